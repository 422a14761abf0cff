"""A small schema language for JSON bodies: one declaration is both the parser's check and
the OpenAPI schema.

Each shape compiles once, at import, into a plain closure (`shape.check`) that the /v1 route
runs on every request, and renders on demand into an OpenAPI 3.0 schema (`shape.schema`) for
the document at /api/schema/ (api/openapi.py). The /v1 declarations are in api/declarations.py.

Rules the checks apply, so the document can state them:
- A field whose value is null counts as not given: optional fields are `nullable`, and a
  required field that is null is missing.
- `Object(extra="refuse")` refuses undeclared fields (additionalProperties: false);
  "ignore" drops them from the parsed value; "keep" passes them through (free-form JSON).
- Numbers come back as float, so 0 and 0.0 mean the same (cache keys).
JSON types are tested with `type(v) is ...`: json.loads builds exactly these types.
"""

from .base import Check, Components, Schema, Shape, ShapeError, UnknownFields
from .containers import Array, Map, Object, OneOf
from .scalars import Bool, Int, Number, Str

__all__ = [
    "Array", "Bool", "Check", "Components", "Int", "Map", "Number", "Object", "OneOf", "Schema", "Shape",
    "ShapeError", "Str", "UnknownFields",
]  # fmt: skip
