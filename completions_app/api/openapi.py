"""The /v1 part of the OpenAPI document, made from the operations the direct route serves.

A drf-spectacular postprocessing hook (SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"]): the
document at /api/schema/ (Swagger UI at /api/docs/) gets one path per operation in
fast_routes.SERVED, with the request and answer schemas rendered from the same declarations
the route's parser checks (declarations.py). /v1 has no DRF view; DRF's own views (the
management API) are documented by drf-spectacular as usual, beside these.
"""

from __future__ import annotations

import re
from typing import Any

from .declarations import ERROR, ERROR_HEADERS, HEADERS, Operation
from .fast_routes import SERVED
from .shapes import Components, Schema

SECURITY_SCHEMES = {
    "ClientKeyBearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "A client key: `Authorization: Bearer aip_…`.",
    },
    "ClientKeyHeader": {"type": "apiKey", "in": "header", "name": "x-api-key", "description": "A client key."},
}
STATUS_TEXT = {
    200: "The answer.",
    400: "Invalid request (the field is named in `param`), or a Host not allowed.",
    401: "Missing, unknown or expired client key.",
    403: "This client key may not use that model.",
    404: "Unknown model.",
    413: "Request body over MAX_REQUEST_BYTES (after gzip decompression too).",
    415: "Content-Type not application/json, or Content-Encoding not gzip.",
    429: "Every key of the provider is rate limited, or too many failed keys from this address (Retry-After says when to retry).",
    502: "The provider failed (after failover).",
    503: "Overloaded (MAX_IN_FLIGHT), the database is unreachable, or the provider's breaker is open.",
    504: "The provider did not answer in time.",
}


def _headers(names: tuple[str, ...]) -> dict[str, Schema]:
    return {name: {"description": HEADERS[name], "schema": {"type": "string"}} for name in names}


def _json(*bodies: Any, components: Components) -> Schema:
    schemas = [body.schema(components) for body in bodies]
    return {"schema": schemas[0] if len(schemas) == 1 else {"oneOf": schemas}}


def _event_stream(event: Any, components: Components) -> Schema:
    # Before OpenAPI 3.2 (itemSchema), `schema` describes one event, {data, event, id, retry}
    # as schemathesis reads it; what `data` holds is in x-data-schema.
    data = event.schema(components)
    return {
        "schema": {
            "type": "object",
            "properties": {"data": {"type": "string", "description": "JSON: see x-data-schema; or an Error."}},
            "required": ["data"],
        },
        "x-data-schema": data,
    }


def operation_schema(op: Operation, components: Components) -> Schema:
    """The OpenAPI operation object for one declared /v1 operation."""
    responses: dict[str, Schema] = {}
    for status in sorted({*op.answer_statuses, *op.errors}):
        bodies = [op.answer] if status in op.answer_statuses else []
        if status in op.errors:
            bodies.append(op.error or ERROR)
        content = {"application/json": _json(*bodies, components=components)}
        is_answer = status in op.answer_statuses
        if is_answer and op.stream_event is not None:
            content["text/event-stream"] = _event_stream(op.stream_event, components)
        text = STATUS_TEXT.get(status, "")
        if is_answer and op.stream_event is not None:
            text += " JSON, or with `stream: true` Server-Sent Events (text/event-stream)."
        response: Schema = {"description": text, "content": content}
        headers = op.result_headers if is_answer else ERROR_HEADERS
        if status in (429, 503):
            headers = (*headers, "Retry-After")
        if headers:
            response["headers"] = _headers(headers)
        responses[str(status)] = response
    out: Schema = {
        "operationId": op.operation_id,
        "summary": op.summary,
        "tags": [op.tag],
        "security": [{"ClientKeyBearer": []}, {"ClientKeyHeader": []}] if op.auth else [],
        "responses": responses,
    }
    if op.description:
        out["description"] = op.description
    parameters = [
        {"in": "path", "name": name, "required": True, "schema": {"type": "string", "minLength": 1}}
        for name in re.findall(r"{(\w+)}", op.path)
    ]
    parameters += [
        {"in": "header", "name": name, "required": False, "description": HEADERS[name], "schema": {"type": "string"}}
        for name in op.request_headers
    ]
    if parameters:
        out["parameters"] = parameters
    if op.request is not None:
        out["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": op.request.schema(components)}},
        }
    return out


def v1_document(operations: tuple[Operation, ...]) -> tuple[dict[str, Schema], dict[str, Schema]]:
    """(paths, component schemas) for these operations."""
    components = Components()
    components.ref(ERROR)
    paths: dict[str, Schema] = {}
    for op in operations:
        paths.setdefault(op.path, {})[op.method.lower()] = operation_schema(op, components)
    return paths, components.schemas


def add_v1_paths(result: dict[str, Any], generator: Any = None, request: Any = None, public: bool = True) -> dict:
    """The postprocessing hook: adds the served /v1 operations to drf-spectacular's document."""
    paths, schemas = v1_document(tuple(op for op, _call in SERVED))
    result.setdefault("paths", {}).update(paths)
    parts = result.setdefault("components", {})
    parts.setdefault("schemas", {}).update(schemas)
    parts.setdefault("securitySchemes", {}).update(SECURITY_SCHEMES)
    return result
