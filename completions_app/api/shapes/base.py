"""The base of the schema language: a shape, its error, and the components it renders into."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .containers import Object

Check = Callable[[Any], Any]
Schema = dict[str, Any]


class ShapeError(Exception):
    """A value that does not fit; `path` (keys and indexes) is filled in on the way out."""

    def __init__(self, problem: str, path: list[str | int] | None = None, text: str = "") -> None:
        super().__init__(problem)
        self.problem, self.text = problem, text  # text: a whole message instead of "`where` problem"
        self.path: list[str | int] = path or []

    def where(self) -> str:
        out = ""
        for part in self.path:
            out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
        return out

    def message(self) -> str:
        return self.text or f"`{self.where()}` {self.problem}"

    def __str__(self) -> str:
        return self.message()


class UnknownFields(ShapeError):
    def __init__(self, names: list[str]) -> None:
        super().__init__("", [])
        self.names = [n[:64] for n in names[:5]]

    def message(self) -> str:
        where = self.where()
        return f"Unknown field(s){f' in `{where}`' if where else ''}: {', '.join(self.names)}."

    def field(self) -> str:
        where = self.where()
        return f"{where}.{self.names[0]}" if where else self.names[0]


class Components:
    """Named object shapes met while rendering: they become #/components/schemas/<name>."""

    def __init__(self) -> None:
        self.schemas: dict[str, Schema] = {}

    def ref(self, shape: Object) -> Schema:
        assert shape.name is not None  # noqa: S101 - only named objects are referenced
        if shape.name not in self.schemas:
            self.schemas[shape.name] = {}  # placeholder first: a shape may contain itself
            self.schemas[shape.name] = shape.inline(self)
        return {"$ref": f"#/components/schemas/{shape.name}"}


class Shape:
    """The base: description, default, nullable (for answers: a required field that may be null)."""

    noun = "a value"
    types: tuple[type, ...] = ()  # the Python types json.loads gives for it: how a OneOf picks it

    def __init__(self, *, description: str = "", default: Any = None, nullable: bool = False) -> None:
        self.description = description
        self.default = default
        self.nullable = nullable
        self.check: Check = self.compile()

    def compile(self) -> Check:
        raise NotImplementedError

    def own_schema(self, components: Components) -> Schema:
        raise NotImplementedError

    def schema(self, components: Components, *, nullable: bool = False, description: str = "") -> Schema:
        out = self.own_schema(components)
        extra: Schema = {}
        if description or self.description:
            extra["description"] = description or self.description
        if self.default is not None:
            extra["default"] = self.default
        if nullable or self.nullable:
            extra["nullable"] = True
            if "enum" in out:  # OpenAPI 3.0.3: a nullable enum lists null too
                out["enum"] = [*out["enum"], None]
        if extra and "$ref" in out:  # OpenAPI 3.0 ignores a $ref's siblings: wrap it
            out = {"allOf": [out]}
        return {**out, **extra}


def bounds(noun: str, low: float | None, high: float | None, unit: str = "") -> str:
    """How a bounded value is described in errors: "an integer between 1 and 4"."""
    if low is not None and high is not None:
        return f"{noun} of {low} to {high}{unit}" if unit else f"{noun} between {low} and {high}"
    if high is not None:
        return f"{noun} of at most {high}{unit}"
    if low is not None:
        return f"{noun} of at least {low}{unit}"
    return noun
