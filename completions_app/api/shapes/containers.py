"""Container shapes: arrays, objects (declared fields), maps, and oneOf."""

from __future__ import annotations

from typing import Any

from .base import Check, Components, Schema, Shape, ShapeError, UnknownFields, bounds
from .scalars import Str


class Array(Shape):
    noun, types = "a list", (list,)

    def __init__(self, items: Shape, *, min_items: int = 0, max_items: int | None = None, **kw: Any) -> None:
        self.items, self.min_items, self.max_items = items, min_items, max_items
        super().__init__(**kw)

    def compile(self) -> Check:
        if self.min_items == 1 and self.max_items is None:
            problem = "must be a non-empty list."
        else:
            problem = f"must be {bounds('a list', self.min_items or None, self.max_items, ' items')}."
        low, high = self.min_items, self.max_items if self.max_items is not None else float("inf")
        item_check = self.items.check

        def check(value: Any) -> Any:
            if type(value) is not list or not (low <= len(value) <= high):
                raise ShapeError(problem)
            try:
                return [item_check(item) for item in value]
            except ShapeError:
                pass
            for i, item in enumerate(value):  # the cold path: find which item, for the message
                try:
                    item_check(item)
                except ShapeError as exc:
                    exc.path.insert(0, i)
                    raise
            raise AssertionError("unreachable: the checks are pure")

        return check

    def own_schema(self, components: Components) -> Schema:
        out: Schema = {"type": "array", "items": self.items.schema(components)}
        if self.min_items:
            out["minItems"] = self.min_items
        if self.max_items is not None:
            out["maxItems"] = self.max_items
        return out


class Object(Shape):
    """Declared fields. `name` makes it a component; `exactly_one_of`: names of which exactly one is given."""

    noun, types = "an object", (dict,)

    def __init__(
        self,
        name: str | None,
        fields: dict[str, Shape],
        *,
        required: tuple[str, ...] = (),
        extra: str = "refuse",
        exactly_one_of: tuple[str, ...] = (),
        example: dict[str, Any] | None = None,
        **kw: Any,
    ) -> None:
        if extra not in ("refuse", "ignore", "keep") or not {*required, *exactly_one_of} <= fields.keys():
            raise TypeError(f"declaration error in object {name}")
        self.name, self.fields, self.required, self.extra = name, fields, required, extra
        self.exactly_one_of, self.example = exactly_one_of, example
        super().__init__(**kw)

    def compile(self) -> Check:
        checks = {name: shape.check for name, shape in self.fields.items()}
        declared = frozenset(checks)
        defaults = {name: s.default for name, s in self.fields.items() if s.default is not None}
        nullable = frozenset(name for name, s in self.fields.items() if s.nullable)
        required, refuse, keep = self.required, self.extra == "refuse", self.extra == "keep"
        one_of = self.exactly_one_of
        one_of_text = " or ".join(f"`{n}`" for n in one_of)

        def check(value: Any) -> Any:
            if type(value) is not dict:
                raise ShapeError("must be an object.")
            if refuse and not declared.issuperset(value):
                raise UnknownFields(sorted(value.keys() - declared))
            out = defaults.copy() if defaults else {}
            for key, item in value.items():
                field_check = checks.get(key)
                if field_check is None:
                    if keep:
                        out[key] = item
                elif item is not None:
                    try:
                        out[key] = field_check(item)
                    except ShapeError as exc:
                        exc.path.insert(0, key)
                        raise
                elif key in nullable:
                    out[key] = None
            for name in required:
                if name not in out:
                    raise ShapeError("is required.", [name])
            if one_of:
                given = [name for name in one_of if name in out]
                if len(given) > 1:
                    raise ShapeError("", [given[0]], f"Send either {one_of_text}, not both.")
                if not given:
                    raise ShapeError("", [one_of[-1]], f"Send {one_of_text}.")
            return out

        if self.extra != "ignore" or set(required) != declared or nullable or one_of:
            return check
        general = check
        pairs = tuple(checks.items())

        def all_required(value: Any) -> Any:
            # Every field required, others ignored (a message, a content part): one pass over
            # the declared fields; any error is reported by the general check.
            try:
                return {name: field_check(value[name]) for name, field_check in pairs}
            except (ShapeError, KeyError, TypeError):
                return general(value)

        return all_required

    def inline(self, components: Components) -> Schema:
        out: Schema = {"type": "object", "properties": {}}
        for name, shape in self.fields.items():
            optional = name not in self.required and not shape.nullable
            out["properties"][name] = shape.schema(components, nullable=optional)
        if self.required:
            out["required"] = list(self.required)
        if self.exactly_one_of:  # given = present and not null
            out["oneOf"] = [
                {"required": [name], "properties": {name: self.fields[name].schema(components)}}
                for name in self.exactly_one_of
            ]
        out["additionalProperties"] = self.extra != "refuse"
        if self.description:
            out["description"] = self.description
        if self.default is not None:
            out["default"] = self.default
        if self.example is not None:
            out["example"] = self.example
        return out

    def own_schema(self, components: Components) -> Schema:
        return self.inline(components)

    def schema(self, components: Components, *, nullable: bool = False, description: str = "") -> Schema:
        if not self.name:
            return super().schema(components, nullable=nullable, description=description)
        # A component carries its own description; the reference only what the use adds.
        out = components.ref(self)
        extra: Schema = {"description": description} if description else {}
        if nullable or self.nullable:
            extra["nullable"] = True
        return {"allOf": [out], **extra} if extra else out


class Map(Shape):
    """An object with any keys and values of one shape (e.g. logit_bias, metadata)."""

    noun, types = "an object", (dict,)

    def __init__(self, values: Shape, *, max_items: int | None = None, **kw: Any) -> None:
        self.values, self.max_items = values, max_items
        super().__init__(**kw)

    def compile(self) -> Check:
        value_check = self.values.check
        high = self.max_items if self.max_items is not None else float("inf")
        problem = f"must be {bounds('an object', None, self.max_items, ' keys')}."

        def check(value: Any) -> Any:
            if type(value) is not dict or len(value) > high:
                raise ShapeError(problem)
            out = {}
            for key, item in value.items():
                try:
                    out[key] = value_check(item)
                except ShapeError as exc:
                    exc.path.insert(0, key)
                    raise
            return out

        return check

    def own_schema(self, components: Components) -> Schema:
        out: Schema = {"type": "object", "additionalProperties": self.values.schema(components)}
        if self.max_items is not None:
            out["maxProperties"] = self.max_items
        return out


class OneOf(Shape):
    """Alternatives told apart by JSON type, and objects by a `discriminator` field whose
    declared shape is a one-value Str enum (e.g. content parts by "type")."""

    def __init__(self, *alternatives: Shape, discriminator: str = "", **kw: Any) -> None:
        self.alternatives, self.discriminator = alternatives, discriminator
        self.types = tuple(kind for alt in alternatives for kind in alt.types)
        self.noun = " or ".join(alt.noun for alt in alternatives)
        super().__init__(**kw)

    def _tagged(self) -> dict[str, Object]:
        tagged: dict[str, Object] = {}
        for alt in self.alternatives:
            if isinstance(alt, Object) and self.discriminator:
                tag = alt.fields[self.discriminator]
                if not (isinstance(tag, Str) and tag.enum and len(tag.enum) == 1):
                    raise TypeError(f"{alt.name}.{self.discriminator} must be a one-value Str enum")
                tagged[tag.enum[0]] = alt
        return tagged

    def compile(self) -> Check:
        tagged = {tag: alt.check for tag, alt in self._tagged().items()}
        by_type: dict[type, Check] = {}  # one alternative per JSON type (the OpenAPI oneOf is exclusive)
        for alt in self.alternatives:
            if not (tagged and isinstance(alt, Object)):
                for kind in alt.types:
                    if kind in by_type:
                        raise TypeError(f"two alternatives for JSON {kind.__name__} in a OneOf")
                    by_type[kind] = alt.check
        problem = f"must be {self.noun}."
        key = self.discriminator
        tag_problem = f"must be one of {', '.join(tagged)}."

        def check(value: Any) -> Any:
            alt_check = by_type.get(type(value))
            if alt_check is not None:
                return alt_check(value)
            if tagged and type(value) is dict:
                tag = value.get(key)
                object_check = tagged.get(tag) if type(tag) is str else None
                if object_check is None:
                    raise ShapeError(tag_problem, [key])
                return object_check(value)
            raise ShapeError(problem)

        return check

    def own_schema(self, components: Components) -> Schema:
        out: Schema = {"oneOf": [alt.schema(components) for alt in self.alternatives]}
        tagged = self._tagged()
        if tagged and all(alt.name for alt in tagged.values()):
            mapping = {tag: f"#/components/schemas/{alt.name}" for tag, alt in tagged.items()}
            out["discriminator"] = {"propertyName": self.discriminator, "mapping": mapping}
        return out
