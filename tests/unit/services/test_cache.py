"""Response cache and single flight."""

import asyncio
import dataclasses
from decimal import Decimal

import pytest

from completions_app import metrics
from completions_app.models import ClientKey
from completions_app.services.catalog import catalog_get, catalog_invalidate
from completions_app.services.completion import completion_create, completion_stream
from completions_app.services.db import db_run
from completions_app.services.response_cache import cache_key, cacheable
from completions_app.services.types import ClientIdentity, CompletionInput, StreamDelta, StreamEnd, StreamStart
from providers_app.adapters.types import Message
from providers_app.models import Model
from tests.factories import client_create
from tests.fakes.behaviour import Behaviour


def _inp(**kw):
    base = {"model": "m", "messages": (Message("user", "hi"),), "temperature": 0.0}
    return CompletionInput(**{**base, **kw})


def _key(inp: CompletionInput, client_id: int = 1, shared: bool = False) -> str:
    return cache_key(inp, client_id=client_id, shared=shared)


def test_key_covers_every_output_affecting_field():
    base = _key(_inp())
    assert _key(_inp()) == base
    for change in (
        {"model": "m2"},
        {"messages": (Message("user", "hi!"),)},
        {"messages": (Message("system", "hi"),)},
        {"max_tokens": 5},
        {"top_p": 0.5},
        {"stop": ("x",)},
        {"temperature": 0.0001},
    ):
        assert _key(_inp(**change)) != base, change


def test_key_is_not_fooled_by_concatenation():
    # "ab"+"c" and "a"+"bc" would collide under naive concatenation.
    one = _inp(messages=(Message("user", "ab"), Message("user", "c")))
    two = _inp(messages=(Message("user", "a"), Message("user", "bc")))
    assert _key(one) != _key(two)
    assert _key(_inp(stop=("a,b",))) != _key(_inp(stop=("a", "b")))


def test_key_is_scoped_per_client_unless_the_model_is_shared():
    assert _key(_inp(), client_id=1) != _key(_inp(), client_id=2)
    assert _key(_inp(), client_id=1, shared=True) == _key(_inp(), client_id=2, shared=True)
    assert _key(_inp(), client_id=1, shared=True) != _key(_inp(), client_id=1)


def test_only_deterministic_requests_are_cacheable():
    assert cacheable(_inp(temperature=0.0))
    assert not cacheable(_inp(temperature=0.7))
    assert not cacheable(_inp(temperature=None))
    assert not cacheable(_inp(cache=False))


def _hits() -> float:
    return metrics.cache_hits_total.labels(result="hit")._value.get()


@pytest.mark.django_db(transaction=True)
async def test_second_identical_request_is_a_recorded_hit(gw):
    hits = _hits()
    first = await completion_create(gw.inp(temperature=0), gw.ctx())
    second = await completion_create(gw.inp(temperature=0), gw.ctx())
    assert len(gw.fake.requests) == 1
    assert second.cached and not first.cached
    assert second.text == first.text and second.cost_usd == 0
    assert _hits() == hits + 1
    miss, hit = await gw.records()
    assert (miss.status, hit.status) == ("ok", "cache_hit")
    assert hit.cost_usd == 0 and hit.cost_saved_usd == miss.cost_usd > 0
    assert hit.served_model == "gpt-mini" and hit.provider == "oa"


@pytest.mark.django_db(transaction=True)
async def test_non_deterministic_and_opted_out_requests_bypass_the_cache(gw):
    await completion_create(gw.inp(temperature=0.7), gw.ctx())
    await completion_create(gw.inp(temperature=0.7), gw.ctx())
    await completion_create(gw.inp(temperature=0, cache=False), gw.ctx())
    await completion_create(gw.inp(temperature=0, cache=False), gw.ctx())
    assert len(gw.fake.requests) == 4


@pytest.mark.django_db(transaction=True)
async def test_a_streamed_answer_is_cached_and_replayed_as_a_stream(gw):
    inp = gw.inp(temperature=0, text="alpha beta gamma delta")
    live = [e async for e in completion_stream(inp, gw.ctx())]
    replay = [e async for e in completion_stream(inp, gw.ctx())]
    assert len(gw.fake.requests) == 1
    text = lambda events: [e.text for e in events if isinstance(e, StreamDelta)]  # noqa: E731
    assert text(replay) == text(live) and len(text(replay)) > 1
    assert isinstance(replay[0], StreamStart) and replay[0].cached
    assert isinstance(replay[-1], StreamEnd) and replay[-1].result.cached
    # And a non-streamed request is served from the streamed answer.
    plain = await completion_create(inp, gw.ctx())
    assert plain.cached and plain.text == "alpha beta gamma delta"


@pytest.mark.django_db(transaction=True)
async def test_identical_requests_in_flight_reach_the_upstream_once(gw):
    gw.fake.script(Behaviour.hang(0.3, path="/v1/chat"))
    results = await asyncio.gather(*(completion_create(gw.inp(temperature=0), gw.ctx()) for _ in range(12)))
    assert len(gw.fake.requests) == 1
    assert sum(r.cached for r in results) == 11
    assert len({r.text for r in results}) == 1
    records = await gw.records()
    assert sorted(r.status for r in records) == ["cache_hit"] * 11 + ["ok"]
    [paid] = [r for r in records if r.status == "ok"]
    assert sum((r.cost_usd for r in records), Decimal(0)) == paid.cost_usd > 0
    assert sum((r.cost_saved_usd for r in records), Decimal(0)) == 11 * paid.cost_usd


@pytest.mark.django_db(transaction=True)
async def test_followers_of_a_failed_leader_get_the_error_not_a_hang(gw):
    gw.fake.script(Behaviour(kind="error", status=400, delay_s=0.2, path="/v1/chat"))
    results = await asyncio.gather(
        *(completion_create(gw.inp(temperature=0), gw.ctx()) for _ in range(5)), return_exceptions=True
    )
    assert len(gw.fake.requests) == 1
    assert all(isinstance(r, Exception) and getattr(r, "http_status", 0) == 400 for r in results)
    assert len(await gw.records()) == 5


# --- per-client scope (issue 14, item 5) --------------------------------------------------------
async def _other_client() -> ClientIdentity:
    def create() -> ClientIdentity:
        client_create("svc-other")
        row = ClientKey.objects.get(name="svc-other")
        return ClientIdentity(id=row.id, name=row.name, allowed_models=None)

    return await db_run(create)


def _ctx(gw, client: ClientIdentity):
    return dataclasses.replace(gw.ctx(), client=client)


async def _share_cache(model: str) -> None:
    await db_run(lambda: Model.objects.filter(name=model).update(cache_shared=True))
    catalog_invalidate()
    assert (await catalog_get()).models[model].cache_shared


@pytest.mark.django_db(transaction=True)
async def test_one_client_is_never_served_another_clients_cached_answer(gw):
    other = await _other_client()
    a1 = await completion_create(gw.inp(temperature=0), gw.ctx())
    b1 = await completion_create(gw.inp(temperature=0), _ctx(gw, other))
    assert not a1.cached and not b1.cached
    assert len(gw.fake.requests) == 2
    # Each key's own repeat is a hit, streamed or not.
    a2 = await completion_create(gw.inp(temperature=0), gw.ctx())
    b2 = [e async for e in completion_stream(gw.inp(temperature=0), _ctx(gw, other))]
    assert a2.cached and isinstance(b2[0], StreamStart) and b2[0].cached
    assert len(gw.fake.requests) == 2
    records = await gw.records()
    assert [(r.client_name, r.status) for r in records] == [
        ("svc-tester", "ok"),
        ("svc-other", "ok"),
        ("svc-tester", "cache_hit"),
        ("svc-other", "cache_hit"),
    ]


@pytest.mark.django_db(transaction=True)
async def test_a_model_marked_shared_serves_every_client_from_one_answer(gw):
    other = await _other_client()
    await _share_cache("gpt-mini")
    first = await completion_create(gw.inp(temperature=0), gw.ctx())
    second = await completion_create(gw.inp(temperature=0), _ctx(gw, other))
    assert not first.cached and second.cached and second.text == first.text
    assert len(gw.fake.requests) == 1
    # Only that model: gpt-big stays per client.
    await completion_create(gw.inp("gpt-big", temperature=0), gw.ctx())
    assert not (await completion_create(gw.inp("gpt-big", temperature=0), _ctx(gw, other))).cached
    assert len(gw.fake.requests) == 3


@pytest.mark.django_db(transaction=True)
async def test_a_client_never_follows_another_clients_flight(gw):
    other = await _other_client()
    gw.fake.script(Behaviour.hang(0.3, path="/v1/chat", times=2))
    results = await asyncio.gather(
        completion_create(gw.inp(temperature=0), gw.ctx()),
        completion_create(gw.inp(temperature=0), _ctx(gw, other)),
        completion_create(gw.inp(temperature=0), gw.ctx()),  # follows the first (or leads it)
    )
    # Which of the same client's two leads depends on which cache look-up returns first (a
    # Redis round trip with REDIS_URL); exactly one of them follows, the other client never.
    assert sorted([results[0].cached, results[2].cached]) == [False, True]
    assert not results[1].cached
    assert len(gw.fake.requests) == 2


@pytest.mark.django_db(transaction=True)
async def test_clients_share_a_flight_when_the_model_is_shared(gw):
    other = await _other_client()
    await _share_cache("gpt-mini")
    gw.fake.script(Behaviour.hang(0.3, path="/v1/chat"))
    results = await asyncio.gather(
        completion_create(gw.inp(temperature=0), gw.ctx()),
        completion_create(gw.inp(temperature=0), _ctx(gw, other)),
    )
    assert sorted(r.cached for r in results) == [False, True]
    assert len(gw.fake.requests) == 1
