"""A flood of random client keys from one address (issue 14, item 3): at most
AUTH_FAILURES_PER_MINUTE database lookups for it (concurrent guesses included), then
429 with Retry-After for that address only; a valid key is answered throughout, and
junk keys never push known ones out of the auth cache. In-process, through the served
ASGI application, with the ASGI scope's `client` as the peer address."""

from __future__ import annotations

import asyncio
import secrets

import httpx
import pytest

from aiproxy.asgi import application
from completions_app.services import auth_cache
from completions_app.services.db import db_run
from tests.factories import client_create

pytestmark = pytest.mark.django_db(transaction=True)

FLOODER = ("203.0.113.7", 40000)
OTHER = ("198.51.100.2", 40000)
PROXY = ("10.0.0.5", 40000)
STATUS = "/v1/providers/status"


def _client(peer: tuple[str, int]) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=application, client=peer), base_url="http://testserver")


def _bearer(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


async def test_a_flood_of_random_keys_costs_bounded_lookups_and_only_the_flooder_is_refused(lookups, settings):
    assert settings.AUTH_FAILURES_PER_MINUTE == 30
    good = await db_run(lambda: client_create("good"))
    async with _client(FLOODER) as flooder, _client(OTHER) as other:
        assert (await other.get(STATUS, headers=_bearer(good))).status_code == 200
        assert len(lookups) == 1

        statuses: list[int] = []
        retry_after: set[str] = set()
        for _ in range(20):  # 2,000 keys, 100 at a time
            answers = await asyncio.gather(
                *(flooder.get(STATUS, headers=_bearer(secrets.token_urlsafe(24))) for _ in range(100))
            )
            statuses += [r.status_code for r in answers]
            retry_after |= {r.headers["retry-after"] for r in answers if r.status_code == 429}
            # The valid key is answered meanwhile, from the flooding address too (it is known).
            assert (await flooder.get(STATUS, headers=_bearer(good))).status_code == 200

        assert statuses.count(401) == 30
        assert statuses.count(429) == 2000 - 30
        assert all(1 <= int(v) <= 60 for v in retry_after), retry_after
        assert len(lookups) == 1 + 30  # the good key once, then 30 guesses: not 2,000

        # Another address is unaffected: its bad key is looked up and answered 401, its good key 200.
        assert (await other.get(STATUS, headers=_bearer(secrets.token_urlsafe(24)))).status_code == 401
        assert (await other.get(STATUS, headers=_bearer(good))).status_code == 200
        r = await flooder.get(STATUS, headers=_bearer(secrets.token_urlsafe(24)))
        assert r.status_code == 429
        assert r.json()["error"]["type"] == "rate_limit_error"


async def test_junk_keys_never_evict_a_known_key(lookups, gw_state, monkeypatch):
    monkeypatch.setattr(auth_cache, "AUTH_CACHE_MAX", 5)
    monkeypatch.setattr(auth_cache, "AUTH_MISS_MAX", 50)
    gw_state.auth.limit.per_minute = 0  # no limit here: every junk key reaches the caches
    good = await db_run(lambda: client_create("kept"))
    async with _client(OTHER) as client:
        assert (await client.get(STATUS, headers=_bearer(good))).status_code == 200
        for _ in range(200):
            assert (await client.get(STATUS, headers=_bearer(secrets.token_urlsafe(24)))).status_code == 401
        assert len(gw_state.auth.entries) == 1
        assert len(gw_state.auth.misses) == 50  # bounded
        before = len(lookups)
        assert (await client.get(STATUS, headers=_bearer(good))).status_code == 200
        assert len(lookups) == before  # still cached


async def test_a_repeated_unknown_key_is_looked_up_once(lookups, gw_state):
    gw_state.auth.limit.per_minute = 0
    junk = secrets.token_urlsafe(24)
    async with _client(OTHER) as client:
        for _ in range(20):
            assert (await client.get(STATUS, headers=_bearer(junk))).status_code == 401
    assert len(lookups) == 1


async def test_forwarded_for_counts_only_behind_a_trusted_proxy(lookups, settings, gw_state):
    gw_state.auth.limit.per_minute = 3
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    async with _client(PROXY) as proxy, _client(FLOODER) as direct:
        # Behind the trusted proxy: the right-most untrusted hop is the client, whatever it forged on the left.
        flood = {"x-forwarded-for": "1.2.3.4, 203.0.113.50, 10.0.0.9"}
        codes = [(await proxy.get(STATUS, headers={**_bearer(secrets.token_urlsafe(24)), **flood})).status_code
                 for _ in range(5)]  # fmt: skip
        assert codes == [401, 401, 401, 429, 429]
        # Another client behind the same proxy is not refused.
        other = {"x-forwarded-for": "203.0.113.51, 10.0.0.9"}
        assert (await proxy.get(STATUS, headers={**_bearer(secrets.token_urlsafe(24)), **other})).status_code == 401
        # An untrusted peer cannot pick its address: it is counted as itself whatever it forwards.
        for i in range(5):
            forged = {"x-forwarded-for": f"192.0.2.{i}"}
            r = await direct.get(STATUS, headers={**_bearer(secrets.token_urlsafe(24)), **forged})
            assert r.status_code == (401 if i < 3 else 429)


async def test_many_concurrent_first_requests_with_one_valid_key_are_all_answered(lookups):
    # They share one lookup: not 200 failures counted in advance (which would be 429s).
    good = await db_run(lambda: client_create("crowd"))
    async with _client(OTHER) as client:
        answers = await asyncio.gather(*(client.get(STATUS, headers=_bearer(good)) for _ in range(200)))
    assert {r.status_code for r in answers} == {200}
    assert len(lookups) == 1
