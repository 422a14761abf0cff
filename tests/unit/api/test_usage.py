"""GET /v1/usage through the served ASGI application: a limited key and its team answered from
the limiter (in-flight reservations included, the records ignored), an unlimited key and an
unlimited team answered from the records (calendar day and month in TIME_ZONE), 401 without a
key; every answer checked against its declaration (declarations.USAGE_GET)."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest
from django.utils import timezone

from aiproxy.asgi import application
from completions_app.api import declarations as v1
from completions_app.api.usage import usage_from_records
from completions_app.models import ClientKey, CompletionRecord, Team
from completions_app.services.db import db_run
from completions_app.services.gateway_state import gateway_state
from completions_app.services.limit_types import Ask, Limits, Owner
from completions_app.services.spend import periods_at
from completions_app.services.types import ClientIdentity
from tests.factories import client_create, minute_room

pytestmark = pytest.mark.django_db(transaction=True)

LIMIT_FIELDS = ("rpm", "tpm", "concurrency", "budget_usd_day", "budget_usd_month")
UNSET = dict.fromkeys(LIMIT_FIELDS)
NO_REMAINING = {"requests": None, "tokens": None, "concurrency": None, "budget_usd_day": None, "budget_usd_month": None}


@pytest.fixture
async def http():
    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.fixture
def local_noon(settings):
    """TIME_ZONE where it is about noon now: the day's and month's starts are hours away, so
    a record 'now' is in this minute and one at a period's start is not."""
    offset = 12 - datetime.now(UTC).hour  # -11 .. +12
    settings.TIME_ZONE = f"Etc/GMT{-offset:+d}"  # the sign is POSIX's: Etc/GMT-3 is UTC+3
    return settings.TIME_ZONE


async def _same_minute() -> None:
    """Start a test's counting early in a minute, so its requests and checks share it."""
    second = datetime.now(UTC).second
    if second >= 55:
        await asyncio.sleep(61 - second)


async def _usage(http: httpx.AsyncClient, key: str) -> dict:
    resp = await http.get("/v1/usage", headers={"authorization": f"Bearer {key}"})
    assert resp.status_code == 200, resp.text
    assert resp.headers["x-request-id"]
    body = resp.json()
    v1.USAGE_GET.answer.check(body)  # the declared shape (and so the OpenAPI document's)
    return body


def _record(client: ClientKey | None, created_at: datetime, cost: str, tokens: tuple[int, int] = (0, 0)) -> None:
    CompletionRecord.objects.create(
        created_at=created_at,
        request_id=f"req-{random.getrandbits(48):x}",
        client=client,
        client_name=client.name if client else "",
        model="gpt-mini",
        status=CompletionRecord.Status.OK,
        input_tokens=tokens[0],
        output_tokens=tokens[1],
        cost_usd=Decimal(cost),
    )


def _key(name: str, *, team: Team | None = None, **limits: object) -> tuple[ClientKey, str]:
    minute_room()
    plaintext = client_create(name)
    ClientKey.objects.filter(name=name).update(team=team, **limits)
    return ClientKey.objects.get(name=name), plaintext


def _owner(kind: str, row: ClientKey | Team) -> Owner:
    """The limiter's owner of a row: the engine counts by kind and id (Owner.ref)."""
    return Owner(kind, row.id, row.name, Limits(**{f: getattr(row, f) for f in LIMIT_FIELDS}))


def test_the_documented_example_fits_the_declaration():
    v1.USAGE_GET.answer.check(v1.USAGE_GET.answer.example)


# --- 401 ----------------------------------------------------------------------------------------
async def test_no_key_or_an_unknown_key_is_401(http):
    assert (await http.get("/v1/usage")).status_code == 401
    wrong = await http.get("/v1/usage", headers={"authorization": "Bearer sk-not-a-key-at-all"})
    assert wrong.status_code == 401
    v1.ERROR.check(wrong.json())
    assert (await http.post("/v1/usage", headers={"authorization": "Bearer x"})).status_code == 405


# --- an unlimited key: counted from the records --------------------------------------------------
async def test_an_unlimited_key_answers_its_spend_from_the_records_in_time_zone(http, local_noon):
    await _same_minute()
    p = periods_at()
    yesterday_end = p.day - timedelta(microseconds=1)
    other, _ = await db_run(lambda: _key("someone-else"))
    key, plaintext = await db_run(lambda: _key("free"))

    def records() -> None:
        _record(key, p.day, "0.100000000001")  # today's first moment, in TIME_ZONE
        _record(key, timezone.now(), "0.000000000002", tokens=(7, 5))  # this minute
        _record(key, yesterday_end, "0.2")  # this month unless today is the 1st
        _record(key, p.month - timedelta(microseconds=1), "0.4")  # last month
        _record(other, timezone.now(), "9")  # another key's

    await db_run(records)
    body = await _usage(http, plaintext)

    today = Decimal("0.100000000003")
    month = today + (Decimal("0.2") if yesterday_end >= p.month else 0)
    assert body["team"] is None
    assert body["key"] == {
        "name": "free",
        "limits": UNSET,
        "usage": {
            "requests_this_minute": 1,
            "tokens_this_minute": 12,
            "in_flight": 0,  # not tracked without limits
            "spent_today_usd": str(today),
            "spent_this_month_usd": str(month),
            "reserved_usd": "0",
            "remaining": NO_REMAINING,
            "minute_resets_in_s": body["key"]["usage"]["minute_resets_in_s"],
        },
        "exact": True,
    }
    assert 0 < body["key"]["usage"]["minute_resets_in_s"] <= 60


async def test_a_key_without_records_spent_nothing(http):
    _key_row, plaintext = await db_run(lambda: _key("new"))
    usage = (await _usage(http, plaintext))["key"]["usage"]
    assert (usage["spent_today_usd"], usage["spent_this_month_usd"], usage["requests_this_minute"]) == ("0", "0", 0)


# --- a limited key and team: the limiter's numbers ----------------------------------------------
async def test_a_limited_key_and_team_answer_the_limiters_numbers_with_reservations(http):
    await _limited_key_and_team(http)


@pytest.mark.redis
async def test_the_same_on_redis(http, use_redis):
    await _limited_key_and_team(http)
    assert use_redis.dbsize() > 0  # counted in Redis, where every replica reads them


async def _limited_key_and_team(http: httpx.AsyncClient) -> None:
    await _same_minute()

    def rows() -> tuple[ClientKey, str, Team]:
        team = Team.objects.create(name="search", budget_usd_day=Decimal("2.00"), concurrency=5)
        key, plaintext = _key("ci-bot", team=team, rpm=10, tpm=1000, budget_usd_month=Decimal("1.00"))
        _record(key, timezone.now(), "5")  # settled before its limits: not the limiter's to count
        return key, plaintext, team

    key, plaintext, team = await db_run(rows)
    owners = (_owner("key", key), _owner("team", team))
    limiter = gateway_state().limiter
    done = await limiter.admit(owners, Ask(tokens=300, cost=Decimal("0.25")))
    await limiter.settle(done, tokens=40, cost=Decimal("0.03"))
    await limiter.admit(owners, Ask(tokens=100, cost=Decimal("0.05")))  # still in flight

    body = await _usage(http, plaintext)
    k, t = body["key"], body["team"]
    assert (k["name"], k["exact"], t["name"], t["exact"]) == ("ci-bot", True, "search", True)
    assert k["limits"] == {**UNSET, "rpm": 10, "tpm": 1000, "budget_usd_month": "1"}
    assert t["limits"] == {**UNSET, "concurrency": 5, "budget_usd_day": "2"}
    for owner in (k, t):
        u = owner["usage"]
        assert (u["requests_this_minute"], u["tokens_this_minute"], u["in_flight"]) == (2, 140, 1)
        assert (u["spent_today_usd"], u["spent_this_month_usd"], u["reserved_usd"]) == ("0.03", "0.03", "0.05")
    assert k["usage"]["remaining"] == {
        "requests": 8,
        "tokens": 860,
        "concurrency": None,
        "budget_usd_day": None,
        "budget_usd_month": "0.92",  # 1.00 - 0.03 spent - 0.05 reserved
    }
    assert t["usage"]["remaining"] == {
        "requests": None,
        "tokens": None,
        "concurrency": 4,
        "budget_usd_day": "1.92",
        "budget_usd_month": None,
    }


async def test_an_unlimited_key_of_a_limited_team_and_a_limited_key_of_an_unlimited_team(http, local_noon):
    await _same_minute()

    def rows() -> tuple[str, str, Team, ClientKey]:
        capped = Team.objects.create(name="capped", budget_usd_month=Decimal("50"))
        _free_row, free = _key("free-in-capped", team=capped)
        open_team = Team.objects.create(name="open")
        mate, _ = _key("mate", team=open_team)
        limited, limited_plain = _key("limited-in-open", team=open_team, rpm=3)
        _record(mate, timezone.now(), "1.5")
        _record(limited, timezone.now(), "0.25", tokens=(10, 10))
        return free, limited_plain, capped, limited

    free, limited_plain, capped, limited = await db_run(rows)
    await gateway_state().limiter.admit((_owner("team", capped),), Ask(tokens=10, cost=Decimal("0.5")))

    body = await _usage(http, free)
    assert body["key"]["limits"] == UNSET and body["key"]["usage"]["spent_today_usd"] == "0"
    assert body["team"]["name"] == "capped"
    assert body["team"]["usage"]["in_flight"] == 1
    assert body["team"]["usage"]["remaining"]["budget_usd_month"] == "49.5"

    body = await _usage(http, limited_plain)
    assert body["key"]["limits"]["rpm"] == 3
    assert body["key"]["usage"]["spent_today_usd"] == "0"  # the limiter's: nothing settled through it
    team = body["team"]
    assert (team["name"], team["limits"], team["usage"]["remaining"]) == ("open", UNSET, NO_REMAINING)
    # The team's records: both keys' (the limited key's too).
    assert (team["usage"]["spent_today_usd"], team["usage"]["requests_this_minute"]) == ("1.75", 2)
    assert team["usage"]["tokens_this_minute"] == 20


def test_the_records_are_summed_in_a_few_queries_whatever_their_number(django_assert_num_queries, local_noon):
    """No query per record or per owner: an unlimited key and team cost three small queries."""
    team = Team.objects.create(name="busy")
    key, _ = _key("busy-key", team=team)
    mate, _ = _key("busy-mate", team=team)
    p = periods_at()
    for i in range(30):  # all in this minute
        _record(key if i % 3 else mate, p.minute + (p.now - p.minute) * i / 30, "0.01")
    identity = ClientIdentity(id=key.id, name=key.name, allowed_models=None, team="busy")
    with django_assert_num_queries(3):  # the key's sums, the key's team, the team's sums
        found = usage_from_records(identity, key=True, team=True, periods=p)
    assert (found["key"].spent_today_usd, found["team"].spent_today_usd) == (Decimal("0.2"), Decimal("0.3"))
    assert (found["key"].requests_this_minute, found["team"].requests_this_minute) == (20, 30)
