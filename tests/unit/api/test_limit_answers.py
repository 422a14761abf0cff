"""A limited key's answers through the served ASGI application, its limits read from the
database (ClientKey / Team fields, as the admin or loadconfig set them) by the real auth path,
counted by the real engine: x-ratelimit-* on successes (JSON and SSE) and on the 429s; a rate
limit (rate_limit_exceeded), a budget (type insufficient_quota, code budget_exceeded, when it
resets) and a concurrency cap (concurrency_limit), each with Retry-After and a record."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import httpx
import pytest

from aiproxy.asgi import application
from completions_app.models import ClientKey, Team
from completions_app.services.db import db_run
from tests.factories import client_create, minute_room
from tests.fakes.behaviour import Behaviour
from tests.unit.services.conftest import gw

__all__ = ["gw"]  # the fixture, used by name

pytestmark = pytest.mark.django_db(transaction=True)

CHAT = "/v1/chat/completions"


@pytest.fixture
async def http(gw):
    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


async def limited_key(name: str, team: dict | None = None, **limits: object) -> dict[str, str]:
    """A client key with these limits (and a team with its own); its auth header."""
    minute_room()

    def create() -> str:
        key = client_create(name)
        row = ClientKey.objects.get(name=name)
        if team is not None:
            row.team = Team.objects.create(name=f"{name}-team", **team)
        for field, value in limits.items():
            setattr(row, field, value)
        row.save()
        return key

    return {"authorization": f"Bearer {await db_run(create)}"}


def chat(text: str = "hello there gateway", **kw: object) -> dict:
    return {"model": "gpt-mini", "messages": [{"role": "user", "content": text}], **kw}


async def test_a_rate_limited_key_sees_its_limits_on_every_answer_and_a_429_past_them(http, gw):
    auth = await limited_key("rest-rpm", rpm=2, tpm=100_000)
    first = await http.post(CHAT, json=chat(max_tokens=10), headers=auth)
    assert first.status_code == 200
    assert first.headers["x-ratelimit-limit-requests"] == "2"
    assert first.headers["x-ratelimit-remaining-requests"] == "1"
    assert first.headers["x-ratelimit-limit-tokens"] == "100000"
    assert first.headers["x-ratelimit-remaining-tokens"] == str(100_000 - 5 - 10)  # reserved: 5 in, 10 out
    assert first.headers["x-ratelimit-reset-requests"].endswith("s")
    streamed = await http.post(CHAT, json=chat("streamed", stream=True), headers=auth)
    assert streamed.status_code == 200 and streamed.headers["content-type"].startswith("text/event-stream")
    assert streamed.headers["x-ratelimit-remaining-requests"] == "0"
    assert streamed.text.rstrip().endswith("data: [DONE]")

    refused = await http.post(CHAT, json=chat("one more"), headers=auth)
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert refused.headers["x-ratelimit-remaining-requests"] == "0"
    assert refused.headers["x-ratelimit-limit-requests"] == "2"
    error = refused.json()["error"]
    assert (error["type"], error["code"]) == ("rate_limit_exceeded", "rate_limit_exceeded")
    assert "key:rest-rpm" in error["message"]
    refused_stream = await http.post(CHAT, json=chat("one more", stream=True), headers=auth)
    assert refused_stream.status_code == 429 and refused_stream.headers["content-type"] == "application/json"
    assert refused_stream.json()["error"]["code"] == "rate_limit_exceeded"
    assert refused_stream.headers["x-ratelimit-remaining-requests"] == "0"
    assert len(gw.fake.requests) == 2
    record = (await gw.records())[-2]
    assert (record.client_name, record.http_status, record.error_type, record.limit_hit) == (
        "rest-rpm",
        429,
        "rate_limit_exceeded",
        "key:rest-rpm:rpm",
    )


async def test_a_spent_budget_is_insufficient_quota_with_its_reset_time(http, gw):
    auth = await limited_key("rest-budget", budget_usd_month=Decimal("0.000001"))
    refused = await http.post("/v1/complete", json={"model": "gpt-mini", "prompt": "hello"}, headers=auth)
    assert refused.status_code == 429
    error = refused.json()["error"]
    assert (error["type"], error["code"]) == ("insufficient_quota", "budget_exceeded")
    assert "monthly budget of key:rest-budget" in error["message"] and "resets at" in error["message"]
    assert int(refused.headers["retry-after"]) >= 1
    assert gw.fake.requests == []
    [record] = await gw.records()
    assert (record.http_status, record.limit_hit) == (429, "key:rest-budget:budget_usd_month")


async def test_a_teams_concurrency_cap_is_concurrency_limit(http, gw):
    auth = await limited_key("rest-conc", team={"concurrency": 1})
    gw.fake.script(Behaviour.ok(delay_s=0.3))
    slow = asyncio.create_task(http.post(CHAT, json=chat(), headers=auth))
    while not gw.fake.requests:
        await asyncio.sleep(0.005)
    refused = await http.post(CHAT, json=chat("meanwhile"), headers=auth)
    assert refused.status_code == 429 and refused.headers["retry-after"] == "1"
    error = refused.json()["error"]
    assert (error["type"], error["code"]) == ("concurrency_limit", "concurrency_limit")
    assert "team:rest-conc-team" in error["message"]
    assert (await slow).status_code == 200
    assert (await http.post(CHAT, json=chat("after"), headers=auth)).status_code == 200
    limits_hit = [r.limit_hit for r in await gw.records()]
    assert sorted(limits_hit) == ["", "", "team:rest-conc-team:concurrency"]


async def test_an_unlimited_key_gets_no_ratelimit_headers(http, gw):
    auth = {"authorization": f"Bearer {await db_run(lambda: client_create('rest-free'))}"}
    answer = await http.post(CHAT, json=chat(), headers=auth)
    assert answer.status_code == 200
    assert not [h for h in answer.headers if h.startswith("x-ratelimit")]


async def test_an_upstream_error_to_a_limited_key_carries_its_limits_too(http, gw):
    auth = await limited_key("rest-err", rpm=5)
    gw.fake.script(Behaviour.error(500, path="/v1/chat", times=-1), Behaviour.overloaded(path="/v1/messages", times=-1))
    failed = await http.post(CHAT, json=chat(), headers=auth)
    assert failed.status_code == 502
    assert (failed.headers["x-ratelimit-limit-requests"], failed.headers["x-ratelimit-remaining-requests"]) == (
        "5",
        "4",
    )
