"""Client-key auth cache: one database lookup per key at a time, refresh ahead of expiry,
revocation within AUTH_CACHE_S."""

from __future__ import annotations

import asyncio
import time

import pytest

from completions_app.models import ClientKey
from completions_app.services import auth, auth_cache
from completions_app.services.db import db_run
from providers_app.errors import AuthenticationFailed
from tests.factories import client_create

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def entries(gw_state):
    """The auth cache's entries: key hash -> (expiry, identity)."""
    return gw_state.auth.entries


def expire_all(entries) -> None:
    for key_hash, (_, identity) in list(entries.items()):
        entries[key_hash] = (0.0, identity)


async def test_concurrent_requests_on_an_expired_entry_share_one_lookup(lookups, entries):
    key = await db_run(lambda: client_create("herd"))
    assert (await auth.client_authenticate(key)).name == "herd"
    assert len(lookups) == 1
    expire_all(entries)
    identities = await asyncio.gather(*(auth.client_authenticate(key) for _ in range(200)))
    assert {i.name for i in identities} == {"herd"}
    assert len(lookups) == 2  # one more, not 200


async def test_a_busy_key_is_refreshed_ahead_of_expiry_without_waiting(lookups, entries, gw_state):
    key = await db_run(lambda: client_create("busy"))
    await auth.client_authenticate(key)
    (key_hash,) = entries
    _, identity = entries[key_hash]
    # Inside the refresh-ahead window: answered from the entry, one lookup starts beside.
    entries[key_hash] = (time.monotonic() + 0.5, identity)
    results = await asyncio.gather(*(auth.client_authenticate(key) for _ in range(50)))
    assert {i.name for i in results} == {"busy"}
    for _ in range(200):  # the refresh runs in a worker thread
        if not gw_state.auth.lookups_running():
            break
        await asyncio.sleep(0.01)
    assert len(lookups) == 2
    assert entries[key_hash][0] > time.monotonic() + auth_cache.AUTH_CACHE_S - 1.0  # entry renewed


async def test_a_revoked_key_fails_after_the_entry_expires(lookups, entries):
    key = await db_run(lambda: client_create("revoked"))
    await auth.client_authenticate(key)
    await db_run(lambda: ClientKey.objects.filter(name="revoked").update(active=False))
    assert (await auth.client_authenticate(key)).name == "revoked"  # cached: up to AUTH_CACHE_S
    expire_all(entries)
    results = await asyncio.gather(*(auth.client_authenticate(key) for _ in range(20)), return_exceptions=True)
    assert all(isinstance(r, AuthenticationFailed) for r in results)
    assert len(lookups) == 2


async def test_a_waiter_that_is_cancelled_does_not_cancel_the_shared_lookup(lookups):
    key = await db_run(lambda: client_create("patient"))
    first = asyncio.ensure_future(auth.client_authenticate(key))
    second = asyncio.ensure_future(auth.client_authenticate(key))
    await asyncio.sleep(0)
    first.cancel()
    assert (await second).name == "patient"
    assert len(lookups) == 1
