"""Budgets and rate limits in the completion service's request path, with the real engine
(limits_local.LocalLimiter on a fixed clock) and the fake upstream: refusals (no upstream call,
a record with 429 and the limit, the metric), cache hits (a request, nothing reserved), the
settle after every ending (the limiter's counts equal the records' sums), the x-ratelimit-*
headers of a successful answer, and an unlimited key that never reaches the limiter."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from decimal import Decimal

import pytest
from prometheus_client import REGISTRY

from completions_app.services.budget_alerts import alerts_drain
from completions_app.services.completion import completion_create, completion_stream
from completions_app.services.limit_types import Limits, Owner
from completions_app.services.limits_local import LocalLimiter
from completions_app.services.types import StreamDelta, StreamEnd, StreamStart
from providers_app.errors import (
    BudgetExceeded,
    ConcurrencyLimitExceeded,
    RateLimitExceeded,
    UpstreamBadRequest,
    UpstreamError,
)
from tests.factories import minute_room
from tests.fakes.behaviour import Behaviour

pytestmark = pytest.mark.django_db(transaction=True)

NOW = 1_794_999_990.0  # 2026-11-18 11:06:30 UTC, mid-minute: a test never straddles two windows


@pytest.fixture
def limiter(gw_state):
    gw_state.limiter = LocalLimiter(clock=lambda: NOW)
    return gw_state.limiter


def limited(gw, **limits) -> Owner:
    """Give the test's client key these limits (as identity_lookup would); its Owner."""
    minute_room()
    owner = Owner(kind="key", id=gw.client.id, name=gw.client.name, limits=Limits(**limits))
    gw.client = replace(gw.client, owners=(owner,))
    return owner


def rejections(limit: str) -> float:
    return REGISTRY.get_sample_value("ai_proxy_limit_rejections_total", {"limit": limit}) or 0.0


async def reconciled(gw, limiter: LocalLimiter, owner: Owner) -> list:
    """Every reservation settled, and the limiter's counts are the records' sums."""
    await alerts_drain()
    records = await gw.records()
    usage = await limiter.usage(owner)
    assert (usage.in_flight, usage.reserved_usd) == (0, 0)
    assert usage.spent_today_usd == usage.spent_this_month_usd == sum(r.cost_usd for r in records)
    assert usage.tokens_this_minute == sum(r.input_tokens + r.output_tokens for r in records)
    return records


# --- refusals ---------------------------------------------------------------------------------
async def test_a_key_over_its_rpm_is_refused_recorded_and_counted_without_an_upstream_call(gw, limiter):
    owner = limited(gw, rpm=2)
    before = rejections("rpm")
    for i in range(2):
        await completion_create(gw.inp(text=f"request {i}"), gw.ctx())
    with pytest.raises(RateLimitExceeded) as info:
        await completion_create(gw.inp(text="request 3"), gw.ctx())
    exc = info.value
    assert (exc.code, exc.http_status, exc.limit, exc.owner) == ("rate_limit_exceeded", 429, "rpm", "key:svc-tester")
    assert exc.retry_after_header() == "30"  # the minute's rest, on the engine's clock
    assert exc.headers["x-ratelimit-limit-requests"] == "2"
    assert exc.headers["x-ratelimit-remaining-requests"] == "0"
    assert len(gw.fake.requests) == 2  # the third never reached the provider
    assert rejections("rpm") == before + 1
    records = await reconciled(gw, limiter, owner)
    refused = records[-1]
    assert (refused.status, refused.http_status, refused.error_type, refused.limit_hit) == (
        "error",
        429,
        "rate_limit_exceeded",
        "key:svc-tester:rpm",
    )
    assert (refused.cost_usd, refused.input_tokens, refused.provider) == (0, 0, "")
    assert [r.limit_hit for r in records[:2]] == ["", ""]


async def test_a_stream_over_the_limit_is_refused_before_its_start(gw, limiter):
    owner = limited(gw, rpm=1)
    [_ async for _ in completion_stream(gw.inp(), gw.ctx())]
    stream = completion_stream(gw.inp(text="again"), gw.ctx())
    with pytest.raises(RateLimitExceeded):
        await anext(stream)
    assert len(gw.fake.requests) == 1
    records = await reconciled(gw, limiter, owner)
    assert (records[-1].stream, records[-1].http_status, records[-1].limit_hit) == (True, 429, "key:svc-tester:rpm")


async def test_concurrency_and_budget_refusals_name_their_limit_and_owner(gw, limiter):
    team = Owner(kind="team", id=7, name="search", limits=Limits(concurrency=1))
    key = Owner(kind="key", id=gw.client.id, name="svc-tester", limits=Limits(budget_usd_day=Decimal("0.00001")))
    gw.client = replace(gw.client, owners=(key, team))
    gw.fake.script(Behaviour.ok(delay_s=0.3))
    slow = asyncio.create_task(completion_create(gw.inp(max_tokens=4), gw.ctx()))
    while not gw.fake.requests:
        await asyncio.sleep(0.005)
    with pytest.raises(ConcurrencyLimitExceeded) as info:
        await completion_create(gw.inp(text="meanwhile", max_tokens=4), gw.ctx())
    assert (info.value.code, info.value.owner, info.value.limit) == ("concurrency_limit", "team:search", "concurrency")
    await slow
    # The day's budget is 10 µ$; a request may cost 5 input + 1000 output tokens at 0.60/M: 600 µ$.
    with pytest.raises(BudgetExceeded) as info:
        await completion_create(gw.inp(text="a longer answer please", max_tokens=1000), gw.ctx())
    exc = info.value
    assert (exc.code, exc.error_type, exc.limit, exc.owner) == (
        "budget_exceeded",
        "insufficient_quota",
        "budget_usd_day",
        "key:svc-tester",
    )
    assert exc.resets_at == "2026-11-19T00:00:00+00:00" and exc.retry_after_header()
    records = await reconciled(gw, limiter, key)
    assert [r.limit_hit for r in records] == ["", "team:search:concurrency", "key:svc-tester:budget_usd_day"]
    assert [r.error_type for r in records[1:]] == ["concurrency_limit", "budget_exceeded"]


# --- cache hits and single flight -------------------------------------------------------------
async def test_cache_hits_count_as_requests_reserve_nothing_and_pass_a_spent_budget(gw, limiter):
    # 3 µ$ a request (4 in, 4 out); a miss asks 5 + 4 tokens' worth (3.15 µ$): one fits in 5 µ$.
    owner = limited(gw, rpm=3, budget_usd_day=Decimal("0.000005"))
    inp = gw.inp(text="one two three four", temperature=0, max_tokens=4)
    first = await completion_create(inp, gw.ctx())
    hit = await completion_create(inp, gw.ctx())
    assert (first.cached, hit.cached) == (False, True)
    assert hit.limit_headers["x-ratelimit-remaining-requests"] == "1"
    with pytest.raises(BudgetExceeded):
        await completion_create(gw.inp(text="something else", temperature=0, max_tokens=4), gw.ctx())
    assert (await completion_create(inp, gw.ctx())).cached  # a hit: no budget needed
    usage = await limiter.usage(owner)
    assert (usage.requests_this_minute, usage.tokens_this_minute, usage.in_flight) == (3, 8, 0)
    with pytest.raises(RateLimitExceeded):  # but it is a request
        await completion_create(inp, gw.ctx())
    assert len(gw.fake.requests) == 1
    records = await reconciled(gw, limiter, owner)
    assert [r.status for r in records] == ["ok", "cache_hit", "error", "cache_hit", "error"]


async def test_a_follower_given_its_leaders_answer_is_a_hit(gw, limiter):
    owner = limited(gw, rpm=10, tpm=1000)
    gw.fake.script(Behaviour.ok(delay_s=0.2))
    inp = gw.inp(text="one two three four", temperature=0, max_tokens=4)
    results = await asyncio.gather(*(completion_create(inp, gw.ctx()) for _ in range(3)))
    assert sorted(r.cached for r in results) == [False, True, True]
    assert len(gw.fake.requests) == 1
    usage = await limiter.usage(owner)
    assert (usage.requests_this_minute, usage.tokens_this_minute) == (3, 8)
    await reconciled(gw, limiter, owner)


async def test_a_refused_leader_does_not_hand_its_refusal_to_its_followers(gw, limiter):
    """With a shared cache a follower may be another key's request: it leads instead."""
    from completions_app.services.gateway_state import gateway_state
    from completions_app.services.singleflight import LeaderGone

    owner = limited(gw, rpm=1)
    await completion_create(gw.inp(text="first"), gw.ctx())
    inp = gw.inp(text="one two three four", temperature=0)
    flights = gateway_state().flights
    real_lead = flights.lead
    seen = []

    def lead(key):  # the leader's flight, watched: what do its followers get?
        manager = real_lead(key)

        class Watched:
            async def __aenter__(self):
                flight = await manager.__aenter__()
                seen.append(flight)
                return flight

            async def __aexit__(self, *exc):
                return await manager.__aexit__(*exc)

        return Watched()

    flights.lead = lead
    with pytest.raises(RateLimitExceeded):
        await completion_create(inp, gw.ctx())
    [flight] = seen
    assert isinstance(flight.future.exception(), LeaderGone)
    await reconciled(gw, limiter, owner)


# --- settle: the limiter ends where the records do ---------------------------------------------
async def test_success_settles_to_the_recorded_usage_and_cost(gw, limiter):
    owner = limited(gw, tpm=100_000, budget_usd_month=Decimal("1"))
    result = await completion_create(gw.inp(text="one two three four"), gw.ctx())
    end = [e async for e in completion_stream(gw.inp(model="claude-h", text="stream these words"), gw.ctx())][-1]
    assert isinstance(end, StreamEnd)
    [first, second] = await reconciled(gw, limiter, owner)
    assert first.cost_usd == result.cost_usd == Decimal("0.000003")
    assert second.cost_usd == end.result.cost_usd > 0


async def test_a_failure_settles_to_nothing(gw, limiter):
    owner = limited(gw, tpm=100_000, budget_usd_day=Decimal("1"))
    gw.fake.script(Behaviour.error(400, message="bad thing"))
    with pytest.raises(UpstreamBadRequest):
        await completion_create(gw.inp(model="gpt-big"), gw.ctx())
    [record] = await reconciled(gw, limiter, owner)
    assert (record.status, record.cost_usd) == ("error", 0)
    assert (await limiter.usage(owner)).tokens_this_minute == 0


async def test_a_failover_settles_at_the_serving_models_prices(gw, limiter):
    owner = limited(gw, budget_usd_day=Decimal("1"))
    gw.fake.script(Behaviour.error(500, path="/v1/chat", times=-1))
    result = await completion_create(gw.inp(text="one two three four"), gw.ctx())
    assert (result.served_model, result.cost_usd) == ("claude-h", Decimal("0.0000192"))  # 4 × 0.80 + 4 × 4.00
    [record] = await reconciled(gw, limiter, owner)
    assert record.cost_usd == Decimal("0.0000192")


async def test_a_cut_stream_settles_to_what_was_delivered(gw, limiter):
    owner = limited(gw, tpm=100_000, budget_usd_day=Decimal("1"))
    gw.fake.script(Behaviour.disconnect(after_frames=3, path="/v1/chat"))
    with pytest.raises(UpstreamError):
        [_ async for _ in completion_stream(gw.inp(text="w1 w2 w3 w4 w5 w6"), gw.ctx())]
    [record] = await reconciled(gw, limiter, owner)
    assert record.status == "error"


async def test_a_client_leaving_a_stream_settles_to_what_was_delivered(gw, limiter):
    owner = limited(gw, tpm=100_000, budget_usd_day=Decimal("1"))
    gw.fake.script(Behaviour.ok(chunks=20, chunk_delay_s=0.05, path="/v1/chat"))
    stream = completion_stream(gw.inp(text=" ".join(f"w{i}" for i in range(20))), gw.ctx())
    got = 0
    async for event in stream:
        got += isinstance(event, StreamDelta)
        if got == 3:
            break
    await stream.aclose()
    [record] = await reconciled(gw, limiter, owner)
    assert (record.error_type, record.usage_estimated) == ("client_disconnected", True)
    assert record.cost_usd > 0


async def test_a_cancelled_call_still_settles_even_when_cancelled_again(gw, limiter):
    """The settle is run again in a task of its own: a second cancel (a server stopping) while the
    request's `finally` awaits it does not leave the reservation held until its TTL."""
    owner = limited(gw, concurrency=1, budget_usd_day=Decimal("1"))
    gw.fake.script(Behaviour.ok(delay_s=0.2))
    slow_settle = limiter.settle

    async def settle(admission, **kw):
        await asyncio.sleep(0.1)
        return await slow_settle(admission, **kw)

    limiter.settle = settle
    task = asyncio.create_task(completion_create(gw.inp(text="one two three four"), gw.ctx()))
    while not gw.fake.requests:
        await asyncio.sleep(0.005)
    time.sleep(0.3)  # the answer arrives meanwhile: the call's record and settle carry its usage
    task.cancel()
    await asyncio.sleep(0.05)  # now in the settle
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    [record] = await reconciled(gw, limiter, owner)
    assert (record.error_type, record.cost_usd) == ("client_disconnected", Decimal("0.000003"))
    await completion_create(gw.inp(text="the slot is free again"), gw.ctx())


async def test_a_settle_that_fails_is_logged_never_raised(gw, limiter, caplog):
    limited(gw, rpm=10)

    async def broken(admission, **kw):
        raise RuntimeError("engine bug")

    limiter.settle = broken
    result = await completion_create(gw.inp(), gw.ctx())
    assert result.text
    assert "settling the limits of request" in caplog.text


# --- answers ----------------------------------------------------------------------------------
async def test_a_limited_keys_answers_carry_x_ratelimit_headers(gw, limiter):
    limited(gw, rpm=5, tpm=10_000)
    result = await completion_create(gw.inp(text="one two three four", max_tokens=10), gw.ctx())
    assert result.limit_headers == {
        "x-ratelimit-limit-requests": "5",
        "x-ratelimit-remaining-requests": "4",
        "x-ratelimit-reset-requests": "30s",
        "x-ratelimit-limit-tokens": "10000",
        "x-ratelimit-remaining-tokens": "9985",  # 5 estimated in + 10 out reserved
        "x-ratelimit-reset-tokens": "30s",
    }
    events = [e async for e in completion_stream(gw.inp(model="claude-h"), gw.ctx())]
    assert isinstance(events[0], StreamStart) and events[0].limit_headers["x-ratelimit-remaining-requests"] == "3"
    assert events[-1].result.limit_headers == events[0].limit_headers


async def test_an_unlimited_key_never_reaches_the_limiter(gw, gw_state):
    class Untouchable:
        async def aclose(self) -> None:  # the state's teardown
            pass

        def __getattr__(self, name):
            raise AssertionError(f"the limiter's {name} was used for an unlimited key")

    gw_state.limiter = Untouchable()
    inp = gw.inp(temperature=0)
    for _ in range(2):
        result = await completion_create(inp, gw.ctx())
        assert result.limit_headers is None
    events = [e async for e in completion_stream(gw.inp(text="streamed"), gw.ctx())]
    assert events[0].limit_headers is None
