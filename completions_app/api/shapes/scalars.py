"""Scalar shapes: strings, integers, numbers, booleans (optionally an enum)."""

from __future__ import annotations

import json
from typing import Any

from .base import Check, Components, Schema, Shape, ShapeError, bounds


class _Scalar(Shape):
    json_type = ""

    def __init__(self, *, enum: tuple[Any, ...] | None = None, **kw: Any) -> None:
        self.enum = enum
        super().__init__(**kw)

    def expect(self) -> str:
        raise NotImplementedError

    def problem(self) -> str:
        if self.enum and len(self.enum) == 1:
            return f"is not supported (only {json.dumps(self.enum[0])})."
        if self.enum:
            return f"must be one of {', '.join(str(v) for v in self.enum)}."
        return f"must be {self.expect()}."

    def own_schema(self, components: Components) -> Schema:
        out: Schema = {"type": self.json_type}
        if self.enum:
            out["enum"] = list(self.enum)
        return out


class Str(_Scalar):
    json_type, types, noun = "string", (str,), "a string"

    def __init__(self, *, min_len: int = 0, max_len: int | None = None, format: str = "", **kw: Any) -> None:  # noqa: A002
        self.min_len, self.max_len, self.format = min_len, max_len, format
        super().__init__(**kw)

    def expect(self) -> str:
        if self.min_len == 1 and self.max_len is None:
            return "a non-empty string"
        return bounds("a string", self.min_len or None, self.max_len, " characters")

    def compile(self) -> Check:
        # Three variants: the common cases do one or two tests.
        problem = self.problem()
        allowed = frozenset(self.enum or ())
        low, high = self.min_len, self.max_len if self.max_len is not None else float("inf")

        def one_of(value: Any) -> Any:
            if type(value) is str and value in allowed:
                return value
            raise ShapeError(problem)

        def bounded(value: Any) -> Any:
            if type(value) is str and low <= len(value) <= high:
                return value
            raise ShapeError(problem)

        def any_string(value: Any) -> Any:
            if type(value) is str:
                return value
            raise ShapeError(problem)

        return one_of if allowed else bounded if (low or self.max_len is not None) else any_string

    def own_schema(self, components: Components) -> Schema:
        out = super().own_schema(components)
        if self.min_len:
            out["minLength"] = self.min_len
        if self.max_len is not None:
            out["maxLength"] = self.max_len
        if self.format:
            out["format"] = self.format
        return out


class Int(_Scalar):
    json_type, types, noun = "integer", (int,), "an integer"

    def __init__(self, *, minimum: int | None = None, maximum: int | None = None, **kw: Any) -> None:
        self.minimum, self.maximum = minimum, maximum
        super().__init__(**kw)

    def expect(self) -> str:
        return bounds(self.noun, self.minimum, self.maximum)

    def compile(self) -> Check:
        problem = self.problem()
        allowed = frozenset(self.enum or ())
        low = self.minimum if self.minimum is not None else -float("inf")
        high = self.maximum if self.maximum is not None else float("inf")
        as_float = self.types == (int, float)

        def check(value: Any) -> Any:
            kind = type(value)
            if not (kind is int or (as_float and kind is float)) or not (low <= value <= high):
                raise ShapeError(problem)
            if allowed and value not in allowed:
                raise ShapeError(problem)
            return float(value) if as_float else value

        return check

    def own_schema(self, components: Components) -> Schema:
        out = super().own_schema(components)
        if self.minimum is not None:
            out["minimum"] = self.minimum
        if self.maximum is not None:
            out["maximum"] = self.maximum
        return out


class Number(Int):
    """Integer or float; parsed as float."""

    json_type, types, noun = "number", (int, float), "a number"

    def __init__(self, *, minimum: float | None = None, maximum: float | None = None, **kw: Any) -> None:
        super().__init__(minimum=minimum, maximum=maximum, **kw)  # type: ignore[arg-type]


class Bool(_Scalar):
    json_type, types, noun = "boolean", (bool,), "true or false"

    def expect(self) -> str:
        return self.noun

    def compile(self) -> Check:
        problem = self.problem()
        allowed = self.enum

        def check(value: Any) -> Any:
            if type(value) is not bool or (allowed and value not in allowed):
                raise ShapeError(problem)
            return value

        return check
