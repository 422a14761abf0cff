"""Every authenticated completion request leaves one record, a request refused while parsing
too (status error, its error type and HTTP status, cost 0, the model as given); a request
without a valid key leaves none and is counted in ai_proxy_unauthenticated_total."""

from __future__ import annotations

import gzip
import json
from decimal import Decimal

import pytest
from django.test import override_settings
from prometheus_client import REGISTRY

from completions_app.api.fast_routes import respond, route_for
from completions_app.models import CompletionRecord
from completions_app.services.db import db_run
from completions_app.services.recorder import records_flush
from tests.factories import client_create

pytestmark = pytest.mark.django_db(transaction=True)


async def _post(path: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict]:
    scope = {
        "type": "http",
        "method": "POST",
        "path": path,
        "headers": [(k.encode(), v.encode()) for k, v in {"host": "127.0.0.1", **headers}.items()],
    }
    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    await respond(route_for(scope), scope, body, False, send)
    status = sent[0]["status"]
    return status, json.loads(b"".join(m.get("body", b"") for m in sent[1:]))


async def _records() -> list[CompletionRecord]:
    records_flush(10)
    return await db_run(lambda: list(CompletionRecord.objects.order_by("created_at")))


def _unauthenticated(interface: str) -> float:
    return REGISTRY.get_sample_value("ai_proxy_unauthenticated_total", {"interface": interface}) or 0.0


@pytest.fixture
async def key(gw) -> str:
    return await db_run(lambda: client_create("refused-tester"))


JSON = {"content-type": "application/json"}
BIG_MAX = {"model": "gpt-mini", "messages": [{"role": "user", "content": "hi"}], "max_tokens": "many"}


@pytest.mark.parametrize(
    ("path", "body", "headers", "status", "error_type", "model"),
    [
        ("/v1/chat/completions", json.dumps(BIG_MAX).encode(), JSON, 400, "invalid_request_error", "gpt-mini"),
        (
            "/v1/complete",
            json.dumps({"model": "m" * 500, "prompt": 7}).encode(),
            JSON,
            400,
            "invalid_request_error",
            None,
        ),
        ("/v1/complete", b"{not json", JSON, 400, "invalid_request_error", ""),
        ("/v1/chat/completions", b"model=gpt-mini", {"content-type": "text/plain"}, 415, "unsupported_media_type", ""),
        # Past MAX_REQUEST_BYTES once inflated: refused after the key was checked.
        (
            "/v1/complete",
            gzip.compress(b'{"model": "gpt-mini", "prompt": "' + b"a" * 70_000 + b'"}'),
            {**JSON, "content-encoding": "gzip"},
            413,
            "request_too_large",
            "",
        ),
    ],
)
@override_settings(MAX_REQUEST_BYTES=65536)
async def test_a_request_refused_while_parsing_leaves_one_record(key, path, body, headers, status, error_type, model):
    got, answer = await _post(path, body, {**headers, "authorization": f"Bearer {key}", "x-request-id": "refused-1"})
    assert (got, answer["error"]["type"]) == (status, error_type)
    [record] = await _records()
    assert (record.status, record.error_type, record.http_status) == ("error", error_type, status)
    assert (record.request_id, record.client_name, record.cost_usd) == ("refused-1", "refused-tester", Decimal(0))
    assert record.interface == ("openai" if path == "/v1/chat/completions" else "rest")
    if model is None:  # as given, truncated to the column (with a marker)
        assert (
            record.model.startswith("m" * 100)
            and len(record.model) <= CompletionRecord._meta.get_field("model").max_length
        )
    else:
        assert record.model == model
    assert (record.provider, record.input_tokens, record.output_tokens) == ("", 0, 0)


@pytest.mark.parametrize("path", ["/v1/complete", "/v1/chat/completions"])
@pytest.mark.parametrize("auth", [{}, {"authorization": "Bearer sk-not-a-key"}])
async def test_a_request_without_a_valid_key_is_counted_not_recorded(gw, path, auth):
    interface = "openai" if path == "/v1/chat/completions" else "rest"
    before = _unauthenticated(interface)
    got, answer = await _post(path, b"{not json", {**JSON, **auth})
    assert (got, answer["error"]["type"]) == (401, "authentication_error")
    assert await _records() == []
    assert _unauthenticated(interface) == before + 1
