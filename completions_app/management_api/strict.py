"""Request bodies name only fields the resource has: a misspelt field (`input_per_mtk`) is a
400 naming it, not silently dropped while the answer says 200. Read-only fields are accepted
and ignored, so a body read with GET may be sent back with PUT."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers


class StrictFieldsMixin:
    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))  # type: ignore[attr-defined]
            if unknown:
                raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        return super().to_internal_value(data)  # type: ignore[misc]
