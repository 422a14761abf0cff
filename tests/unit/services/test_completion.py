"""The completion service end to end against fake upstreams: result, cost, record."""

import asyncio
import time
from decimal import Decimal

import pytest
from prometheus_client import REGISTRY, generate_latest

from completions_app.services.catalog import catalog_invalidate
from completions_app.services.completion import completion_create, completion_stream
from completions_app.services.db import db_run
from completions_app.services.types import ClientIdentity, StreamDelta, StreamEnd, StreamStart
from providers_app.errors import InvalidRequest, ModelNotFound, PermissionDenied, UpstreamBadRequest, UpstreamError
from providers_app.models import Model
from tests.fakes.behaviour import Behaviour

pytestmark = pytest.mark.django_db(transaction=True)


async def test_complete_returns_text_usage_and_exact_cost(gw):
    result = await completion_create(gw.inp(text="one two three four"), gw.ctx())
    assert result.text == "one two three four"
    assert (result.served_model, result.provider, result.cached) == ("gpt-mini", "oa", False)
    # The fake counts words: 4 in, 4 out.
    assert result.usage.input_tokens == 4 and result.usage.output_tokens == 4
    # 4 × 0.15 + 4 × 0.60 per million, exactly.
    assert result.cost_usd == Decimal("0.000003")
    [record] = await gw.records()
    assert (record.status, record.model, record.provider, record.provider_key) == ("ok", "gpt-mini", "oa", "key1")
    assert record.cost_usd == Decimal("0.000003")
    assert (record.input_price_per_mtok, record.output_price_per_mtok) == (Decimal("0.15"), Decimal("0.60"))
    assert record.attempts == [{"model": "gpt-mini", "provider": "oa", "key": "key1", "outcome": "ok"}]


async def test_cached_prompt_tokens_are_priced_at_the_cache_read_price(gw):
    gw.fake.script(Behaviour.ok(cache_read=2))
    result = await completion_create(gw.inp(text="a b c d e f"), gw.ctx())
    u = result.usage
    # The fake reports prompt_tokens 8, of which 2 cached (OpenAI counts cached
    # tokens inside prompt_tokens): billed 6 × input + 2 × cache read.
    assert (u.input_tokens, u.cache_read_tokens, u.output_tokens) == (6, 2, 6)
    expected = (6 * Decimal("0.15") + 2 * Decimal("0.075") + 6 * Decimal("0.60")) / Decimal(1_000_000)
    assert result.cost_usd == expected
    [record] = await gw.records()
    assert record.cache_read_tokens == 2 and record.cost_usd == expected


async def test_a_price_edit_never_rewrites_history(gw):
    await completion_create(gw.inp(), gw.ctx())
    await db_run(lambda: Model.objects.filter(name="gpt-mini").update(input_per_mtok=Decimal("99")))
    catalog_invalidate()
    await completion_create(gw.inp(text="again please"), gw.ctx())
    first, second = await gw.records()
    assert first.input_price_per_mtok == Decimal("0.15")
    assert second.input_price_per_mtok == Decimal("99")
    assert first.cost_usd != second.cost_usd


async def test_unknown_and_forbidden_models_are_refused_and_recorded(gw):
    with pytest.raises(ModelNotFound):
        await completion_create(gw.inp(model="nope"), gw.ctx())
    limited = gw.ctx()
    limited = type(limited)(
        request_id="r-limited",
        client=ClientIdentity(id=gw.client.id, name="x", allowed_models=frozenset({"llama"})),
        interface="rest",
    )
    with pytest.raises(PermissionDenied):
        await completion_create(gw.inp(model="gpt-mini"), limited)
    with pytest.raises(InvalidRequest, match="temperature"):
        await completion_create(gw.inp(temperature=-1), gw.ctx())
    records = await gw.records()
    assert [(r.status, r.error_type, r.http_status) for r in records] == [
        ("error", "not_found_error", 404),
        ("error", "permission_error", 403),
        ("error", "invalid_request_error", 400),
    ]
    assert gw.fake.requests == []


async def test_unknown_model_names_share_one_metrics_label(gw):
    """A client's junk model names must not each become a Prometheus series."""
    for name in ("nope-1", "nope-2", "nope-3"):
        with pytest.raises(ModelNotFound):
            await completion_create(gw.inp(model=name), gw.ctx())
    text = generate_latest(REGISTRY).decode()
    assert "nope-" not in text
    assert (
        REGISTRY.get_sample_value(
            "ai_proxy_requests_total", {"model": "unknown", "provider": "none", "status": "error"}
        )
        >= 3
    )
    await completion_create(gw.inp(model="gpt-mini"), gw.ctx())
    assert 'ai_proxy_requests_total{model="gpt-mini",provider="oa",status="ok"}' in generate_latest(REGISTRY).decode()


async def test_provider_400_is_returned_at_once_without_failover(gw):
    gw.fake.script(Behaviour.error(400, message="bad thing"))
    with pytest.raises(UpstreamBadRequest):
        await completion_create(gw.inp(), gw.ctx())
    assert len(gw.fake.requests) == 1
    [record] = await gw.records()
    assert (record.status, record.http_status, record.provider) == ("error", 400, "oa")


async def test_stream_yields_start_deltas_and_end_with_exact_usage(gw):
    events = [e async for e in completion_stream(gw.inp(model="claude-h", text="stream these words now"), gw.ctx())]
    assert isinstance(events[0], StreamStart) and events[0].provider == "an"
    deltas = [e.text for e in events if isinstance(e, StreamDelta)]
    assert "".join(deltas) == "stream these words now"
    end = events[-1]
    assert isinstance(end, StreamEnd)
    assert end.result.usage.input_tokens == 4 and not end.result.usage_estimated
    assert end.result.cost_usd == (4 * Decimal("0.80") + end.result.usage.output_tokens * Decimal("4.00")) / 10**6
    [record] = await gw.records()
    assert record.stream and record.status == "ok" and record.ttft_ms is not None
    assert record.cost_usd == end.result.cost_usd


async def test_stream_cut_mid_answer_raises_and_records_partial_usage(gw):
    gw.fake.script(Behaviour.disconnect(after_frames=3, path="/v1/chat"))
    seen = []
    with pytest.raises(Exception) as info:  # noqa: PT011 - the class is asserted below
        async for event in completion_stream(gw.inp(text="w1 w2 w3 w4 w5 w6"), gw.ctx()):
            seen.append(event)
    from providers_app.errors import UpstreamError

    assert isinstance(info.value, UpstreamError)
    [record] = await gw.records()
    assert record.status == "error" and record.stream
    delivered = "".join(e.text for e in seen if isinstance(e, StreamDelta))
    if delivered:
        assert record.output_tokens > 0 and record.usage_estimated


async def test_client_going_away_closes_the_upstream_and_records_what_was_delivered(gw):
    gw.fake.script(Behaviour.ok(chunks=20, chunk_delay_s=0.05, path="/v1/chat"))
    stream = completion_stream(gw.inp(text=" ".join(f"w{i}" for i in range(20))), gw.ctx())
    got = []
    async for event in stream:
        if isinstance(event, StreamDelta):
            got.append(event.text)
            if len(got) == 3:
                break
    await stream.aclose()
    for _ in range(50):
        if gw.fake.stats["disconnects"]:
            break
        await asyncio.sleep(0.05)
    assert gw.fake.stats["disconnects"] == 1
    [record] = await gw.records()
    assert (record.status, record.error_type) == ("error", "client_disconnected")
    assert record.usage_estimated and record.output_tokens == (len("".join(got)) + 3) // 4
    assert record.cost_usd > 0


async def test_n_concurrent_requests_leave_exactly_n_records(gw):
    n = 60
    inputs = [gw.inp(text=f"request number {i}") for i in range(n)]
    results = await asyncio.gather(*(completion_create(inp, gw.ctx()) for inp in inputs), return_exceptions=True)
    assert [r for r in results if isinstance(r, BaseException)] == []
    records = await gw.records()
    assert len(records) == n
    assert len({r.request_id for r in records}) == n


async def test_keys_last_used_is_kept_by_the_record_writer(gw):
    from completions_app.models import ClientKey
    from providers_app.models import ProviderKey

    await completion_create(gw.inp(), gw.ctx())
    [record] = await gw.records()
    key = await db_run(lambda: ProviderKey.objects.get(provider__name="oa", label="key1"))
    other = await db_run(lambda: ProviderKey.objects.get(provider__name="oa", label="key2"))
    client = await db_run(lambda: ClientKey.objects.get(pk=gw.client.id))
    assert key.last_used_at == record.created_at
    assert other.last_used_at is None
    assert client.last_used_at == record.created_at


async def test_an_anthropic_stream_cut_mid_way_bills_message_starts_input_count(gw):
    """The input count message_start reported is billed, not an estimate from the prompt's length;
    only the output (no count came) is estimated."""
    prompt = " ".join(["w"] * 60)  # 60 tokens to the fake (one per word), 30 by the 4-characters estimate
    gw.fake.script(Behaviour.disconnect(after_frames=5, path="/v1/messages"))
    seen = []
    with pytest.raises(UpstreamError):
        async for event in completion_stream(gw.inp(model="claude-h", text=prompt), gw.ctx()):
            seen.append(event)
    delivered = "".join(e.text for e in seen if isinstance(e, StreamDelta))
    assert delivered
    [record] = await gw.records()
    assert (record.status, record.provider, record.input_tokens) == ("error", "an", 60)
    assert record.usage_estimated and record.output_tokens == (len(delivered) + 3) // 4
    assert record.cost_usd == (60 * Decimal("0.80") + record.output_tokens * Decimal("4.00")) / 10**6


async def test_an_anthropic_stream_the_client_abandons_bills_message_starts_input_count(gw):
    prompt = " ".join(["w"] * 60)
    gw.fake.script(Behaviour.ok(chunks=20, chunk_delay_s=0.05, path="/v1/messages"))
    stream = completion_stream(gw.inp(model="claude-h", text=prompt), gw.ctx())
    got = []
    async for event in stream:
        if isinstance(event, StreamDelta):
            got.append(event.text)
            if len(got) == 2:
                break
    await stream.aclose()
    [record] = await gw.records()
    assert (record.error_type, record.provider, record.input_tokens) == ("client_disconnected", "an", 60)
    assert record.usage_estimated and record.output_tokens == (len("".join(got)) + 3) // 4


async def test_a_non_stream_call_abandoned_after_the_upstream_answered_records_its_usage(gw):
    """The provider bills an answer it sent: the client leaving once it has arrived (here: it is
    in the gateway's socket, not yet read) must not record cost 0."""
    gw.fake.script(Behaviour.ok(delay_s=0.2))
    task = asyncio.create_task(completion_create(gw.inp(text="one two three four"), gw.ctx()))
    for _ in range(500):
        if gw.fake.requests:
            break
        await asyncio.sleep(0.002)
    time.sleep(0.6)  # blocks the loop: the fake answers meanwhile, the gateway reads nothing yet
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    [record] = await gw.records()
    assert (record.status, record.error_type, record.provider, record.served_model) == (
        "error",
        "client_disconnected",
        "oa",
        "gpt-mini",
    )
    assert (record.input_tokens, record.output_tokens, record.usage_estimated) == (4, 4, False)
    assert record.cost_usd == Decimal("0.000003")
