"""Router: round-robin keys, 429 cooldowns, failover, breakers (in-process state)."""

import asyncio
from collections import Counter
from decimal import Decimal

import pytest

from completions_app import metrics
from completions_app.services.completion import completion_create
from completions_app.services.db import db_run
from providers_app.errors import CircuitOpen, NoKeyAvailable, UpstreamRateLimited, UpstreamServerError
from tests.fakes.behaviour import Behaviour

pytestmark = pytest.mark.django_db(transaction=True)


def _keys_used(gw) -> list[str]:
    return [r.headers.get("authorization", "")[-4:] for r in gw.fake.requests if r.path.startswith("/v1/chat")]


async def test_round_robin_spreads_requests_evenly_over_keys(gw):
    for i in range(10):
        await completion_create(gw.inp(text=f"n {i}"), gw.ctx())
    used = _keys_used(gw)
    assert Counter(used) == {"1111": 5, "2222": 5}
    assert used[:4] == ["1111", "2222", "1111", "2222"]


async def test_weighted_round_robin(gw):
    from providers_app.models import ProviderKey

    await db_run(lambda: ProviderKey.objects.filter(provider__name="oa", label="key1").update(weight=3))
    for i in range(8):
        await completion_create(gw.inp(text=f"n {i}"), gw.ctx())
    assert Counter(_keys_used(gw)) == {"1111": 6, "2222": 2}


async def test_429_cools_the_key_down_and_the_next_key_answers(gw):
    gw.fake.script(Behaviour.rate_limited("7", path="/v1/chat"))
    result = await completion_create(gw.inp(), gw.ctx())
    assert result.served_model == "gpt-mini"
    # key1 got the 429, key2 answered; the next requests avoid key1 while it cools.
    for i in range(3):
        await completion_create(gw.inp(text=f"later {i}"), gw.ctx())
    assert _keys_used(gw) == ["1111", "2222", "2222", "2222", "2222"]
    [first, *_] = await gw.records()
    assert [a["outcome"] for a in first.attempts] == ["rate_limit_error", "ok"]


async def test_every_key_429_fails_over_then_returns_429_when_no_fallback(gw):
    gw.fake.script(Behaviour.rate_limited("30", path="/v1/chat", times=2))
    result = await completion_create(gw.inp(), gw.ctx())
    assert (result.served_model, result.provider) == ("claude-h", "an")
    # gpt-big has no fallback: both oa keys are now cooling → 429 without an upstream call.
    before = len(gw.fake.requests)
    with pytest.raises(UpstreamRateLimited) as info:
        await completion_create(gw.inp(model="gpt-big"), gw.ctx())
    assert info.value.http_status == 429
    assert len(gw.fake.requests) == before


async def test_upstream_fault_fails_over_to_the_fallback(gw):
    gw.fake.script(Behaviour.error(500, path="/v1/chat"))
    before = metrics.failovers_total.labels(from_model="gpt-mini", to_model="claude-h")._value.get()
    result = await completion_create(gw.inp(), gw.ctx())
    assert (result.served_model, result.provider) == ("claude-h", "an")
    assert gw.upstream_paths() == ["/v1/chat/completions", "/v1/messages"]
    assert metrics.failovers_total.labels(from_model="gpt-mini", to_model="claude-h")._value.get() == before + 1
    [record] = await gw.records()
    assert [(a["model"], a["outcome"]) for a in record.attempts] == [("gpt-mini", "upstream_error"), ("claude-h", "ok")]
    assert record.served_model == "claude-h"
    assert record.input_price_per_mtok == Decimal("0.80")  # the serving model's price


async def test_fallbacks_are_not_transitive(gw):
    # claude-h falls back to llama, but gpt-mini's chain is only [gpt-mini, claude-h].
    gw.fake.script(Behaviour.error(500, path="/v1/chat"), Behaviour.overloaded(path="/v1/messages"))
    with pytest.raises(UpstreamServerError):
        await completion_create(gw.inp(), gw.ctx())
    result = await completion_create(gw.inp(model="claude-h", text="x"), gw.ctx())
    assert result.provider == "an"
    gw.fake.script(Behaviour.overloaded(path="/v1/messages"))
    result = await completion_create(gw.inp(model="claude-h", text="y"), gw.ctx())
    assert (result.served_model, result.provider, result.cost_usd) == ("llama", "ol", 0)


async def test_timeout_fails_over(gw, settings):
    from providers_app.models import Provider

    await db_run(lambda: Provider.objects.filter(name="oa").update(timeout_s=0.3))
    gw.fake.script(Behaviour.hang(3, path="/v1/chat"))
    result = await completion_create(gw.inp(), gw.ctx())
    assert result.served_model == "claude-h"
    [record] = await gw.records()
    assert record.attempts[0]["outcome"] == "upstream_timeout"


async def test_breaker_opens_fails_fast_then_one_trial_closes_it(gw_state, gw, settings):
    settings.CIRCUIT_BREAKER_MAX_REQUESTS = 3
    settings.CIRCUIT_BREAKER_TIMEOUT = 0.5
    gw.fake.script(Behaviour.error(503, path="/v1/chat", times=3))
    for _ in range(3):
        with pytest.raises(UpstreamServerError):
            await completion_create(gw.inp(model="gpt-big"), gw.ctx())
    assert gw_state.board.get("oa").state == "open"
    assert metrics.circuit_breaker_state.labels(provider="oa")._value.get() == 2
    calls = len(gw.fake.requests)
    with pytest.raises(CircuitOpen) as info:
        await completion_create(gw.inp(model="gpt-big"), gw.ctx())
    assert info.value.http_status == 503
    assert len(gw.fake.requests) == calls  # failed fast: upstream untouched
    # gpt-mini has fallbacks: with oa open it goes straight to claude-h.
    result = await completion_create(gw.inp(model="gpt-mini"), gw.ctx())
    assert result.provider == "an" and len(gw.fake.requests) == calls + 1
    await asyncio.sleep(0.6)
    result = await completion_create(gw.inp(model="gpt-big"), gw.ctx())
    assert result.provider == "oa"
    assert gw_state.board.get("oa").state == "closed"
    assert metrics.circuit_breaker_state.labels(provider="oa")._value.get() == 0


async def test_half_open_admits_exactly_one_trial(gw_state, gw, settings):
    settings.CIRCUIT_BREAKER_MAX_REQUESTS = 1
    settings.CIRCUIT_BREAKER_TIMEOUT = 0.2
    gw.fake.script(Behaviour.error(500, path="/v1/chat"))
    with pytest.raises(UpstreamServerError):
        await completion_create(gw.inp(model="gpt-big"), gw.ctx())
    await asyncio.sleep(0.3)
    gw.fake.script(Behaviour.hang(0.4, path="/v1/chat"))
    before = len(gw.fake.requests)
    results = await asyncio.gather(
        *(completion_create(gw.inp(model="gpt-big", text=f"t {i}"), gw.ctx()) for i in range(10)),
        return_exceptions=True,
    )
    assert len(gw.fake.requests) == before + 1
    assert sum(not isinstance(r, BaseException) for r in results) == 1
    assert sum(isinstance(r, CircuitOpen) for r in results) == 9
    assert gw_state.board.get("oa").state == "closed"


async def test_failed_trial_reopens(gw_state, gw, settings):
    settings.CIRCUIT_BREAKER_MAX_REQUESTS = 1
    settings.CIRCUIT_BREAKER_TIMEOUT = 0.2
    gw.fake.script(Behaviour.error(500, path="/v1/chat", times=2))
    with pytest.raises(UpstreamServerError):
        await completion_create(gw.inp(model="gpt-big"), gw.ctx())
    await asyncio.sleep(0.3)
    with pytest.raises(UpstreamServerError):
        await completion_create(gw.inp(model="gpt-big"), gw.ctx())
    assert gw_state.board.get("oa").state == "open"
    with pytest.raises(CircuitOpen):
        await completion_create(gw.inp(model="gpt-big"), gw.ctx())


async def test_client_errors_never_count_against_the_breaker(gw_state, gw, settings):
    settings.CIRCUIT_BREAKER_MAX_REQUESTS = 2
    gw.fake.script(Behaviour.error(400, path="/v1/chat", times=5))
    for _ in range(5):
        with pytest.raises(Exception):  # noqa: B017, PT011 - UpstreamBadRequest; the point is the breaker
            await completion_create(gw.inp(model="gpt-big"), gw.ctx())
    assert gw_state.board.get("oa").state == "closed"
    assert gw_state.board.get("oa").failures == 0


async def test_a_gateway_bug_is_not_an_upstream_fault(gw_state, gw, monkeypatch):
    """An unclassified exception from an adapter: 500, no failover, no breaker count."""
    from providers_app.adapters.openai import OpenAIAdapter
    from providers_app.errors import GatewayError

    async def broken(self, request):
        raise RuntimeError("bug")

    monkeypatch.setattr(OpenAIAdapter, "complete", broken)
    with pytest.raises(GatewayError) as info:
        await completion_create(gw.inp(), gw.ctx())
    assert info.value.http_status == 500
    assert gw.fake.requests == []  # not failed over to claude-h
    assert gw_state.board.get("oa").failures == 0


# --- the gateway's own Retry-After ------------------------------------------------------
async def test_cooling_keys_give_the_wait_until_the_first_key_is_back(gw):
    # gpt-big has no fallback; its two keys are rate limited for 5 s and 20 s.
    gw.fake.script(Behaviour.rate_limited("20", path="/v1/chat"), Behaviour.rate_limited("5", path="/v1/chat"))
    with pytest.raises(UpstreamRateLimited) as info:
        await completion_create(gw.inp(model="gpt-big"), gw.ctx())
    assert info.value.retry_after == 5  # the smaller of the two cooldowns just set
    before = len(gw.fake.requests)
    with pytest.raises(NoKeyAvailable) as info:
        await completion_create(gw.inp(model="gpt-big", text="again"), gw.ctx())
    assert len(gw.fake.requests) == before  # refused without an upstream call
    assert 4 < info.value.retry_after <= 5
    assert info.value.retry_after_header() == "5"


async def test_an_open_breaker_gives_the_wait_until_its_trial(gw_state, gw, settings):
    settings.CIRCUIT_BREAKER_MAX_REQUESTS = 1
    settings.CIRCUIT_BREAKER_TIMEOUT = 12
    gw.fake.script(Behaviour.error(500, path="/v1/chat"))
    with pytest.raises(UpstreamServerError) as info:
        await completion_create(gw.inp(model="gpt-big"), gw.ctx())
    assert info.value.retry_after is None  # a fault is not a wait
    with pytest.raises(CircuitOpen) as info:
        await completion_create(gw.inp(model="gpt-big"), gw.ctx())
    assert 11 < info.value.retry_after <= 12
    assert info.value.retry_after_header() == "12"


@pytest.mark.parametrize(("cooldown", "breaker_timeout", "expected"), [("3", 40, "3"), ("40", 6, "6")])
async def test_a_chain_gives_its_smallest_wait(gw_state, gw, settings, cooldown, breaker_timeout, expected):
    """gpt-mini (keys of oa cooling) falls back to claude-h (breaker of an open)."""
    settings.CIRCUIT_BREAKER_MAX_REQUESTS = 1
    settings.CIRCUIT_BREAKER_TIMEOUT = breaker_timeout
    gw.fake.script(Behaviour.error(500, path="/v1/messages"), Behaviour.error(500, path="/api/chat"))
    with pytest.raises(UpstreamServerError):  # claude-h, then its fallback llama
        await completion_create(gw.inp(model="claude-h"), gw.ctx())
    assert gw_state.board.get("an").state == "open"
    gw.fake.script(*(Behaviour.rate_limited(cooldown, path="/v1/chat") for _ in range(2)))
    with pytest.raises(CircuitOpen) as info:
        await completion_create(gw.inp(model="gpt-mini"), gw.ctx())
    assert info.value.retry_after_header() == expected
    with pytest.raises(CircuitOpen) as info:  # now oa's keys were cooling before the call
        await completion_create(gw.inp(model="gpt-mini", text="again"), gw.ctx())
    assert info.value.retry_after_header() == expected
