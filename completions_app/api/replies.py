"""What an API call answers, before it is an HTTP response.

The direct ASGI route (fast_routes.py) sends a reply as ASGI messages, without Django
request or response objects; `django_response` is for DRF's exception handler (errors.py),
so Django-served API views answer errors in the same shape.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from django.http import HttpResponse, HttpResponseBase, StreamingHttpResponse

from providers_app import json_bytes

JSON_TYPE = "application/json"
SSE_TYPE = "text/event-stream"


@dataclass(slots=True)
class JsonReply:
    data: Any
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)

    def body(self) -> bytes:
        return json_bytes.dumps(self.data)


@dataclass(slots=True)
class SseReply:
    chunks: AsyncIterator[bytes]
    headers: dict[str, str] = field(default_factory=dict)
    status: int = 200


Reply = JsonReply | SseReply


def django_response(reply: Reply) -> HttpResponseBase:
    response: HttpResponseBase
    if isinstance(reply, JsonReply):
        response = HttpResponse(reply.body(), content_type=JSON_TYPE, status=reply.status)
    else:
        response = StreamingHttpResponse(reply.chunks, content_type=SSE_TYPE, status=reply.status)
    for name, value in reply.headers.items():
        response[name] = value
    return response
