"""Every adapter against the same upstream faults, over real HTTP.

Each fault must surface as the right providers_app.errors.UpstreamError subclass, because the
router and breakers read nothing else.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from providers_app.errors import (
    UpstreamAuthError,
    UpstreamBadRequest,
    UpstreamConnectionError,
    UpstreamError,
    UpstreamMalformedResponse,
    UpstreamRateLimited,
    UpstreamServerError,
    UpstreamTimeout,
)
from tests.fakes.behaviour import Behaviour
from tests.fakes.server import FakeUpstream

from .support import API_KEY, AdapterFactory, chat, collect, collect_into


async def _complete_error(make_adapter: AdapterFactory, fake: FakeUpstream, behaviour: Behaviour, **kw: object):
    fake.script(behaviour)
    with pytest.raises(UpstreamError) as info:
        await make_adapter(**kw).complete(chat())
    return info.value


async def _stream_error(make_adapter: AdapterFactory, fake: FakeUpstream, behaviour: Behaviour, **kw: object):
    fake.script(behaviour)
    with pytest.raises(UpstreamError) as info:
        await collect(make_adapter(**kw), chat())
    return info.value


@pytest.mark.parametrize("status", [400, 404, 413, 422])
async def test_client_errors_are_bad_request_and_not_retryable(make_adapter, fake, status):
    err = await _complete_error(make_adapter, fake, Behaviour.error(status))
    assert type(err) is UpstreamBadRequest
    assert err.upstream_status == status
    assert not err.retryable
    assert not err.breaker_fault


@pytest.mark.parametrize("status", [401, 403])
async def test_auth_errors(make_adapter, fake, status):
    err = await _complete_error(make_adapter, fake, Behaviour.error(status))
    assert type(err) is UpstreamAuthError
    assert err.upstream_status == status
    assert err.retryable  # another key may work
    assert not err.breaker_fault


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_server_errors(make_adapter, fake, status):
    err = await _complete_error(make_adapter, fake, Behaviour.error(status))
    assert type(err) is UpstreamServerError
    assert err.upstream_status == status
    assert err.retryable
    assert err.breaker_fault


async def test_529_overloaded_is_a_server_error(make_adapter, fake):
    err = await _complete_error(make_adapter, fake, Behaviour.overloaded())
    assert type(err) is UpstreamServerError
    assert err.upstream_status == 529
    assert "Overloaded" in err.message


async def test_server_error_in_stream_request(make_adapter, fake):
    err = await _stream_error(make_adapter, fake, Behaviour.error(500))
    assert type(err) is UpstreamServerError


async def test_429_retry_after_seconds(make_adapter, fake):
    err = await _complete_error(make_adapter, fake, Behaviour.rate_limited("7"))
    assert type(err) is UpstreamRateLimited
    assert err.upstream_status == 429
    assert not err.breaker_fault
    assert err.retry_after == 7.0  # an Ollama behind a proxy that sends one too


async def test_429_retry_after_ms_wins(make_adapter, fake):
    err = await _complete_error(make_adapter, fake, Behaviour.rate_limited("7", retry_after_ms="1500"))
    assert err.retry_after == 1.5


async def test_429_retry_after_http_date(make_adapter, fake):
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    err = await _complete_error(make_adapter, fake, Behaviour.rate_limited(when))
    assert 25 <= err.retry_after <= 30


async def test_429_on_stream_request(make_adapter, fake, provider):
    err = await _stream_error(make_adapter, fake, Behaviour.rate_limited("3"))
    assert type(err) is UpstreamRateLimited


async def test_malformed_json_body(make_adapter, fake):
    err = await _complete_error(make_adapter, fake, Behaviour.malformed())
    assert type(err) is UpstreamMalformedResponse


async def test_malformed_json_in_stream(make_adapter, fake):
    err = await _stream_error(make_adapter, fake, Behaviour.malformed(after_frames=2))
    assert type(err) is UpstreamMalformedResponse


async def test_json_of_the_wrong_shape(make_adapter, fake):
    err = await _complete_error(make_adapter, fake, Behaviour(kind="wrong_shape"))
    assert type(err) is UpstreamMalformedResponse


async def test_slow_first_byte_times_out(make_adapter, fake):
    err = await _complete_error(make_adapter, fake, Behaviour.hang(3), timeout_s=0.3)
    assert type(err) is UpstreamTimeout
    assert err.retryable


async def test_slow_first_byte_times_out_when_streaming(make_adapter, fake):
    err = await _stream_error(make_adapter, fake, Behaviour.hang(3), timeout_s=0.3)
    assert type(err) is UpstreamTimeout


async def test_stalled_stream_times_out(make_adapter, fake):
    # Frames keep coming, but each one later than the read timeout allows.
    err = await _stream_error(make_adapter, fake, Behaviour.ok(chunk_delay_s=1.0), timeout_s=0.3)
    assert type(err) is UpstreamTimeout


async def test_mid_stream_disconnect_raises(make_adapter, fake):
    fake.script(Behaviour.disconnect(after_frames=2))
    adapter = make_adapter()
    received = []
    with pytest.raises(UpstreamError) as info:
        await collect_into(received, adapter, chat("one two three four five six"))
    assert type(info.value) is UpstreamConnectionError
    assert all(c.finish_reason is None for c in received)  # no final chunk: the answer is incomplete


async def test_connection_closed_before_answer(make_adapter, fake):
    err = await _complete_error(make_adapter, fake, Behaviour.close())
    assert type(err) is UpstreamConnectionError


async def test_connection_refused(make_adapter, closed_port):
    adapter = make_adapter(base_url=f"http://127.0.0.1:{closed_port}")
    with pytest.raises(UpstreamConnectionError):
        await adapter.complete(chat())
    with pytest.raises(UpstreamConnectionError):
        await collect(adapter, chat())


async def test_connection_refused_on_list_models(make_adapter, closed_port):
    with pytest.raises(UpstreamConnectionError):
        await make_adapter(base_url=f"http://127.0.0.1:{closed_port}").list_models()


@pytest.mark.parametrize("status", [400, 401, 403, 429, 500])
async def test_error_messages_never_contain_the_key(make_adapter, fake, status):
    # A provider that echoes the key back (some do, partly masked) must not leak it.
    behaviour = Behaviour.error(status, message=f"Incorrect API key provided: {API_KEY}. " + "x" * 500)
    err = await _complete_error(make_adapter, fake, behaviour)
    assert API_KEY not in err.message
    assert API_KEY not in str(err)
    assert "SECRETKEY" not in str(err)
    assert len(err.message) <= 320
    assert "Incorrect API key provided" in err.message  # built from the provider's message


async def test_error_event_in_stream_never_contains_the_key(make_adapter, fake):
    err = await _stream_error(make_adapter, fake, Behaviour.stream_error(message=f"bad key {API_KEY}"))
    assert API_KEY not in str(err)


async def test_list_models_errors_are_classified(make_adapter, fake):
    fake.script(Behaviour.error(401))
    with pytest.raises(UpstreamAuthError):
        await make_adapter().list_models()
