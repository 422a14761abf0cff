"""identity_lookup: a client key's identity carries its own and its team's limits (owners),
key first, only those with a limit set, read in the key's one query."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from completions_app.models import ClientKey, Team
from completions_app.services import auth, auth_cache
from completions_app.services.client_keys import client_key_hash
from completions_app.services.db import db_run
from completions_app.services.limit_types import Limits, Owner
from tests.factories import client_create


def _lookup(plaintext: str):
    return auth_cache.identity_lookup(client_key_hash(plaintext))


@pytest.mark.django_db
def test_no_limits_anywhere_means_no_owners():
    key = client_create("free")
    identity = _lookup(key)
    assert identity.owners == ()
    assert identity.team == ""


@pytest.mark.django_db
def test_a_team_without_limits_names_the_team_and_adds_no_owner():
    key = client_create("member")
    team = Team.objects.create(name="search", alert_webhook_url="https://hooks.example.com/x")
    ClientKey.objects.filter(name="member").update(team=team, alert_fractions="0.5")  # alerts alone: no limit
    identity = _lookup(key)
    assert identity.owners == ()
    assert identity.team == "search"


@pytest.mark.django_db
def test_key_limits_only():
    key = client_create("ci-bot")
    ClientKey.objects.filter(name="ci-bot").update(rpm=60, budget_usd_month=Decimal("10.00"))
    row = ClientKey.objects.get(name="ci-bot")
    identity = _lookup(key)
    assert identity.owners == (
        Owner(
            kind="key",
            id=row.id,
            name="ci-bot",
            limits=Limits(
                rpm=60,
                budget_usd_month=Decimal("10.00"),
                alert_fractions=(Decimal("0.8"), Decimal("1.0")),  # the default
            ),
        ),
    )
    assert identity.owners[0].label == "key:ci-bot"
    assert identity.team == ""


@pytest.mark.django_db
def test_team_limits_only():
    key = client_create("member")
    team = Team.objects.create(
        name="search",
        tpm=200_000,
        concurrency=20,
        budget_usd_day=Decimal("50.00"),
        alert_fractions="1.0, 0.5",
        alert_webhook_url="https://hooks.example.com/budget",
    )
    ClientKey.objects.filter(name="member").update(team=team)
    (owner,) = _lookup(key).owners
    assert (owner.kind, owner.id, owner.name, owner.ref) == ("team", team.id, "search", f"team:{team.id}")
    assert owner.limits == Limits(
        tpm=200_000,
        concurrency=20,
        budget_usd_day=Decimal("50.00"),
        alert_fractions=(Decimal("0.5"), Decimal("1.0")),  # sorted
        alert_webhook_url="https://hooks.example.com/budget",
    )


@pytest.mark.django_db
def test_key_and_team_limits_key_first_in_one_query():
    key = client_create("both")
    team = Team.objects.create(name="search", rpm=600, alert_fractions="")
    ClientKey.objects.filter(name="both").update(team=team, rpm=60, budget_usd_day=Decimal("0"))
    with CaptureQueriesContext(connection) as queries:
        identity = _lookup(key)
    # The key with its team in one query; the allow-list is the lookup's other query, as before.
    assert len(queries) == 2
    assert [(o.kind, o.name) for o in identity.owners] == [("key", "both"), ("team", "search")]
    assert identity.owners[0].limits.budget_usd_day == Decimal("0")  # 0 is a limit: nothing may be spent
    assert identity.owners[1].limits == Limits(rpm=600)  # "" = no alerts
    assert identity.team == "search"


@pytest.mark.django_db
def test_fractions_written_around_the_validators_keep_the_limits_without_alerts(caplog):
    key = client_create("raw")
    ClientKey.objects.filter(name="raw").update(rpm=5, alert_fractions="lots")
    (owner,) = _lookup(key).owners
    assert owner.limits == Limits(rpm=5)
    assert "alert_fractions 'lots' is not valid" in caplog.text


@pytest.mark.django_db
def test_deleting_the_team_leaves_the_key_its_own_limits():
    key = client_create("orphan")
    team = Team.objects.create(name="gone", rpm=1)
    ClientKey.objects.filter(name="orphan").update(team=team, tpm=100)
    team.delete()  # SET_NULL: the key survives
    identity = _lookup(key)
    assert [(o.kind, o.limits.tpm, o.limits.rpm) for o in identity.owners] == [("key", 100, None)]
    assert identity.team == ""


@pytest.mark.django_db(transaction=True)
async def test_a_limit_edit_reaches_requests_when_the_cached_entry_expires(gw_state):
    key = await db_run(lambda: client_create("edited"))
    assert (await auth.client_authenticate(key)).owners == ()
    await db_run(lambda: ClientKey.objects.filter(name="edited").update(rpm=7))
    assert (await auth.client_authenticate(key)).owners == ()  # cached, for up to AUTH_CACHE_S
    for key_hash, (_, identity) in list(gw_state.auth.entries.items()):
        gw_state.auth.entries[key_hash] = (0.0, identity)
    (owner,) = (await auth.client_authenticate(key)).owners
    assert owner.limits.rpm == 7
