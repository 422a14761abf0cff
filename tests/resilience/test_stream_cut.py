"""A stream cut mid-answer: the client always gets an error event (never a
silent end), and the record bills what was delivered."""

from __future__ import annotations

import json
import time

import httpx
import openai
import pytest

from tests.e2e.gateway_process import CLIENT_KEY
from tests.fakes.behaviour import Behaviour

from .helpers import AUTH, wait_records

PROMPT = "one two three four five six seven eight nine ten eleven twelve"


def _record(gw, request_id: str, timeout: float = 10) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        rows = [r for r in wait_records(gw, 1) if r["request_id"] == request_id]
        if rows or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    [row] = rows
    return row


def test_native_stream_cut_ends_with_error_event_and_partial_usage(gateway, fake):
    gw = gateway
    # 6 text frames, the connection dropped after 4 of them; gpt-solo has no fallback.
    fake.script(Behaviour.disconnect(after_frames=4, chunks=6, path="/v1/chat"))
    with httpx.stream("POST", f"{gw.url}/v1/complete", headers=AUTH, timeout=20,
                      json={"model": "gpt-solo", "prompt": PROMPT, "stream": True}) as r:  # fmt: skip
        assert r.status_code == 200
        events = [json.loads(line[6:]) for line in r.iter_lines() if line.startswith("data: ")]
        request_id = r.headers["x-request-id"]
    deltas = [e for e in events if e.get("type") == "delta"]
    assert deltas, events  # part of the answer did arrive
    assert "error" in events[-1] and events[-1]["error"]["type"], events
    assert not any(e.get("type") == "done" for e in events)
    row = _record(gw, request_id)
    assert row["status"] == "error" and row["stream"]
    delivered = "".join(e["text"] for e in deltas)
    assert int(row["output_tokens"]) > 0 and int(row["input_tokens"]) > 0
    assert delivered and PROMPT.startswith(delivered.strip())
    assert float(row["cost_usd"]) > 0


@pytest.mark.parametrize("fault", [Behaviour.disconnect(after_frames=3, chunks=6, path="/v1/chat"),
                                   Behaviour.stream_error(after_frames=3, chunks=6, path="/v1/chat")])  # fmt: skip
def test_openai_sdk_sees_a_cut_stream_as_an_error(gateway, fake, fault):
    gw = gateway
    fake.script(fault)
    request_id = f"sdk-cut-{fault.kind}"
    client = openai.OpenAI(base_url=f"{gw.url}/v1", api_key=CLIENT_KEY, max_retries=0)
    stream = client.chat.completions.create(
        model="gpt-solo",
        messages=[{"role": "user", "content": PROMPT}],
        stream=True,
        extra_headers={"x-request-id": request_id},
    )
    received = []
    with pytest.raises(openai.APIError):
        for chunk in stream:
            received.append(chunk)
    assert received  # some chunks, then the error: never a clean end
    row = _record(gw, request_id)
    assert row["status"] == "error" and row["stream"]
    assert int(row["output_tokens"]) > 0
