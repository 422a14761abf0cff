"""Bad embeddings requests to a running gateway: each is a 400 naming the field (413 for a list
of 10,000 texts over MAX_REQUEST_BYTES, sent plain or gzipped), in the one error shape,
reaches no upstream, and leaves a record of the refusal, never a successful one."""

from __future__ import annotations

import gzip
import json
import os
import time

import httpx
import pytest

from tests.resilience.helpers import AUTH, resilience_config
from tests.resilience.launcher import db_records

EMBEDDING_MODELS = [
    {"name": "emb-oa", "provider": "oa", "upstream_model": "text-embedding-3-small", "mode": "embedding",
     "input_per_mtok": "0.02", "output_per_mtok": "0"},
    {"name": "emb-an", "provider": "an", "upstream_model": "claude-embed", "mode": "embedding",
     "input_per_mtok": "0.02", "output_per_mtok": "0"},
]  # fmt: skip
MAX_REQUEST_BYTES = 1_048_576  # the default


@pytest.fixture(scope="module")
def gateway(fake_upstream, templates, tmp_path_factory):
    """This module's own gateway: the suite's config plus embedding models, default body limit."""
    base = os.environ.get("DATABASE_URL", "")
    config = resilience_config(fake_upstream.url)
    config["models"] += EMBEDDING_MODELS
    gw = templates.launch(tmp_path_factory.mktemp("gw"), config, {"REDIS_URL": "", "DATABASE_URL": base})
    yield gw
    gw.stop()
    gw.drop_database(base)


CASES = {
    "empty string": ({"input": ""}, "input"),
    "empty list": ({"input": []}, "input"),
    "an empty string in the list": ({"input": ["fine", ""]}, "input[1]"),
    "a number in the list": ({"input": ["fine", 7]}, "input[1]"),
    "an object": ({"input": {"text": "x"}}, "input"),
    "no input": ({"input": None}, "input"),
    "token ids": ({"input": [101, 2023, 102]}, "input"),
    "lists of token ids": ({"input": [[101, 2023], [102]]}, "input"),
    "too many texts": ({"input": ["x"] * 2049}, "input"),
    "dimensions 0": ({"dimensions": 0}, "dimensions"),
    "dimensions not an integer": ({"dimensions": "256"}, "dimensions"),
    "encoding_format": ({"encoding_format": "int8"}, "encoding_format"),
    "an unknown field": ({"truncate": "END"}, "truncate"),
    "an OpenAI field not taken": ({"input_type": "query"}, "input_type"),
    "no model": ({"model": None}, "model"),
}


def _post(gw, body: dict, **headers: str) -> httpx.Response:
    full = {"model": "emb-oa", "input": ["some text"], **body}
    return httpx.post(f"{gw.url}/v1/embeddings", json=full, headers={**AUTH, **headers}, timeout=20)


def _refused_cleanly(gw, fake, r: httpx.Response, status: int) -> dict:
    assert r.status_code == status, r.text[:300]
    assert r.headers["x-aiproxy-cost-usd"] == "0" and r.headers["x-aiproxy-cache"] == "MISS"
    error = r.json()["error"]
    assert fake.requests() == []  # nothing reached an upstream
    time.sleep(0.3)  # one writer batch interval: a record, if any, is there
    rows = [row for row in db_records(gw) if row["request_id"] == r.headers["x-request-id"]]
    assert all(row["status"] != "ok" for row in rows)
    return error


@pytest.mark.parametrize("case", list(CASES))
def test_bad_embeddings_requests_are_400_naming_the_field(gateway, fake, case):
    body, field = CASES[case]
    r = _post(gateway, body, **{"x-request-id": f"emb-bad-{case.replace(' ', '-')}"})
    error = _refused_cleanly(gateway, fake, r, 400)
    assert error["param"] == field, error
    assert error["type"] == "invalid_request_error" and error["message"]
    rows = [row for row in db_records(gateway) if row["request_id"] == r.headers["x-request-id"]]
    assert len(rows) == 1  # an authenticated request refused while parsing is recorded


def test_token_ids_are_refused_saying_so(gateway, fake):
    error = _refused_cleanly(gateway, fake, _post(gateway, {"input": [1, 2, 3]}), 400)
    assert error["message"].startswith("input: token arrays are not supported")


def test_ten_thousand_texts_over_max_request_bytes_are_413(gateway, fake):
    texts = [f"text number {i}: " + "lorem ipsum dolor sit amet " * 4 for i in range(10_000)]
    body = json.dumps({"model": "emb-oa", "input": texts}).encode()
    assert len(body) > MAX_REQUEST_BYTES
    headers = {**AUTH, "content-type": "application/json"}
    r = httpx.post(f"{gateway.url}/v1/embeddings", content=body, headers=headers, timeout=20)
    assert _refused_cleanly(gateway, fake, r, 413)["type"] == "request_too_large"
    # Gzipped it is small on the wire, but it is inflated no further than the limit.
    packed = gzip.compress(body)
    assert len(packed) < MAX_REQUEST_BYTES
    r = httpx.post(
        f"{gateway.url}/v1/embeddings", content=packed, headers={**headers, "content-encoding": "gzip"}, timeout=20
    )
    assert _refused_cleanly(gateway, fake, r, 413)["type"] == "request_too_large"


def test_models_of_the_wrong_mode_or_kind_are_400(gateway, fake):
    for model in ("gpt-4o-mini", "emb-an"):  # a chat model; an embedding model on an anthropic provider
        error = _refused_cleanly(gateway, fake, _post(gateway, {"model": model}), 400)
        assert error["type"] == "invalid_request_error"
    r = httpx.post(
        f"{gateway.url}/v1/chat/completions",
        json={"model": "emb-oa", "messages": [{"role": "user", "content": "hi"}]},
        headers=AUTH,
        timeout=20,
    )
    assert "embedding" in _refused_cleanly(gateway, fake, r, 400)["message"]


def test_a_valid_request_is_served(gateway, fake):
    r = _post(gateway, {"input": ["one", "two"], "dimensions": 4, "encoding_format": "float"})
    assert r.status_code == 200, r.text[:300]
    assert [len(d["embedding"]) for d in r.json()["data"]] == [4, 4]
    assert len(fake.requests()) == 1
