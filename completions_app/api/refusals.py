"""What the completion calls do around auth and parsing so that every authenticated request
leaves a record (a refused one too: 400 with the field, 413, 415) and every unauthenticated
one is counted (ai_proxy_unauthenticated_total) instead."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from completions_app.services.completion import completion_refused, completion_unauthenticated
from completions_app.services.types import CallContext, ClientIdentity

from .common import ApiRequest, authenticate
from .parsing import json_body


async def authenticated(request: ApiRequest, interface: str) -> ClientIdentity:
    """common.authenticate, counting the requests it refuses."""
    try:
        return await authenticate(request)
    except Exception:
        completion_unauthenticated(interface)
        raise


def model_given(request: ApiRequest) -> str:
    """The `model` of the body, best effort: "" when the body is not a JSON object or has no
    string there. Only ever read for a refused request."""
    try:
        data: Any = json_body(request)
    except Exception:  # noqa: BLE001 - whatever made it unreadable was already answered
        return ""
    model = data.get("model")
    return model if isinstance(model, str) else ""


@contextmanager
def refusal_recorded(request: ApiRequest, ctx: CallContext) -> Iterator[None]:
    """Parsing inside this block: what it raises is recorded (status error, cost 0), then re-raised."""
    try:
        yield
    except Exception as exc:
        completion_refused(model_given(request), ctx, exc)
        raise
