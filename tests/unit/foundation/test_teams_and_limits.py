"""Teams and limits, the data side: the model's validation, `loadconfig`'s teams: and a
client's team: / limits: (errors name the entry and change nothing; reloading is
idempotent), and the admin pages."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.urls import reverse

from completions_app.models import ClientKey, Team, alert_fractions_parse
from completions_app.services.client_keys import client_key_create
from providers_app.models import Provider

ISSUE_YAML = """
teams:
  - name: search
    limits: {rpm: 600, tpm: 200000, concurrency: 20, budget_usd_day: "50.00", budget_usd_month: "1000.00"}
clients:
  - name: ci-bot
    key: os.environ/AIPROXY_CI_KEY
    team: search                                   # optional
    limits: {rpm: 60, budget_usd_month: "10.00"}   # any subset
"""


def _load(tmp_path: Path, data: dict | str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    call_command("loadconfig", str(path))


def _state() -> list[tuple]:
    fields = (
        "id",
        "name",
        "rpm",
        "tpm",
        "concurrency",
        "budget_usd_day",
        "budget_usd_month",
        "alert_fractions",
        "alert_webhook_url",
    )
    return [
        *Team.objects.order_by("name").values_list(*fields),
        *ClientKey.objects.order_by("name").values_list(*fields, "team__name", "key_hash"),
    ]


@pytest.fixture
def ci_key(monkeypatch):
    monkeypatch.setenv("AIPROXY_CI_KEY", "aip_ci_key_value_123456789")


# The model


def test_alert_fractions_parse_sorts_and_refuses_what_is_not_a_fraction():
    assert alert_fractions_parse("1.0, 0.8,0.8") == (Decimal("0.8"), Decimal("1.0"))
    assert alert_fractions_parse("") == alert_fractions_parse("  ") == ()
    assert alert_fractions_parse("1.5") == (Decimal("1.5"),)
    for bad in ("0", "-0.5", "1.6", "abc", "0.5,,1", "NaN", "Infinity"):
        with pytest.raises(ValidationError):
            alert_fractions_parse(bad)


@pytest.mark.parametrize(
    ("fields", "errors"),
    [
        ({"rpm": 0}, ["rpm"]),
        ({"tpm": 0, "concurrency": 0}, ["concurrency", "tpm"]),
        ({"budget_usd_day": Decimal("-0.01")}, ["budget_usd_day"]),
        ({"budget_usd_month": Decimal("0.0000001")}, ["budget_usd_month"]),  # 7 decimal places
        ({"alert_fractions": "0.8,2"}, ["alert_fractions"]),
        ({"alert_webhook_url": "ftp://hooks.example.com/x"}, ["alert_webhook_url"]),
        ({"name": "two words"}, ["name"]),
        ({}, []),
        ({"rpm": 1, "budget_usd_day": Decimal("0"), "alert_fractions": ""}, []),  # the smallest limits
        ({"alert_webhook_url": "https://hooks.example.com/x?token=1"}, []),
    ],
)
def test_limit_fields_are_validated(db, fields, errors):
    team = Team(**{"name": "search", **fields})
    if not errors:
        team.full_clean()
        return
    with pytest.raises(ValidationError) as raised:
        team.full_clean()
    assert sorted(raised.value.message_dict) == errors


def test_a_key_outlives_its_team(db):
    key, _ = client_key_create(name="member")
    team = Team.objects.create(name="search")
    key.team = team
    key.save()
    assert list(team.keys.all()) == [key]
    team.delete()
    key.refresh_from_db()
    assert key.team is None


# loadconfig


@pytest.mark.django_db
def test_the_issue_yaml_loads_and_reloads_to_the_same_state(tmp_path, ci_key):
    _load(tmp_path, ISSUE_YAML)
    team = Team.objects.get(name="search")
    assert (team.rpm, team.tpm, team.concurrency, team.budget_usd_day, team.budget_usd_month) == (
        600,
        200_000,
        20,
        Decimal("50.00"),
        Decimal("1000.00"),
    )
    assert team.alert_fractions == "0.8,1.0" and team.alert_webhook_url == ""  # the defaults
    key = ClientKey.objects.get(name="ci-bot")
    assert key.team == team
    assert (key.rpm, key.tpm, key.concurrency, key.budget_usd_day, key.budget_usd_month) == (
        60,
        None,
        None,
        None,
        Decimal("10.00"),
    )
    first = _state()
    _load(tmp_path, ISSUE_YAML)
    assert _state() == first


@pytest.mark.django_db
def test_the_file_says_the_whole_state_of_what_it_names(tmp_path, ci_key):
    _load(tmp_path, ISSUE_YAML)
    # Limits and team left out of the client: cleared; limits left out of the team: cleared;
    # a team no longer in the file stays (loadconfig only adds and updates).
    _load(
        tmp_path,
        {
            "teams": [{"name": "other"}],
            "clients": [{"name": "ci-bot", "key": "os.environ/AIPROXY_CI_KEY"}],
        },
    )
    key = ClientKey.objects.get(name="ci-bot")
    assert key.team is None
    assert (key.rpm, key.budget_usd_month, key.alert_fractions) == (None, None, "0.8,1.0")
    assert Team.objects.get(name="search").rpm == 600
    _load(tmp_path, {"teams": [{"name": "search", "limits": {}}]})
    assert Team.objects.get(name="search").rpm is None


@pytest.mark.django_db
def test_budgets_as_strings_or_numbers_alerts_and_a_team_from_the_database(tmp_path, ci_key):
    Team.objects.create(name="finance", rpm=5)
    _load(
        tmp_path,
        {
            "teams": [{"name": "ops", "limits": {"budget_usd_day": 12, "budget_usd_month": 99.5}}],
            "clients": [
                {
                    "name": "ci-bot",
                    "key": "os.environ/AIPROXY_CI_KEY",
                    "team": "finance",  # not in the file: already in the database
                    "limits": {
                        "budget_usd_day": " 0.25 ",
                        "alert_fractions": [0.5, 1],
                        "alert_webhook_url": "https://hooks.example.com/budget",
                    },
                },
                {"name": "quiet", "key": "aip_quiet_key_value_0000", "limits": {"alert_fractions": "", "tpm": None}},
            ],
        },
    )
    ops = Team.objects.get(name="ops")
    assert (ops.budget_usd_day, ops.budget_usd_month) == (Decimal("12"), Decimal("99.5"))
    key = ClientKey.objects.get(name="ci-bot")
    assert key.team.name == "finance"
    assert key.budget_usd_day == Decimal("0.25")
    assert alert_fractions_parse(key.alert_fractions) == (Decimal("0.5"), Decimal("1"))
    assert key.alert_webhook_url == "https://hooks.example.com/budget"
    quiet = ClientKey.objects.get(name="quiet")
    assert (quiet.alert_fractions, quiet.tpm) == ("", None)


@pytest.mark.django_db
def test_a_new_client_key_keeps_its_team_and_limits(tmp_path, monkeypatch):
    data = {
        "teams": [{"name": "search"}],
        "clients": [{"name": "ci-bot", "key": "os.environ/AIPROXY_CI_KEY", "team": "search", "limits": {"rpm": 3}}],
    }
    monkeypatch.setenv("AIPROXY_CI_KEY", "aip_first_key_value_1111")
    _load(tmp_path, data)
    monkeypatch.setenv("AIPROXY_CI_KEY", "aip_second_key_value_2222")  # rotated: the stored key is replaced
    _load(tmp_path, data)
    key = ClientKey.objects.get(name="ci-bot")
    assert (key.team.name, key.rpm) == ("search", 3)


CLIENT = {"name": "ci-bot", "key": "aip_ci_key_value_123456789"}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"clients": [{**CLIENT, "limits": {"rpn": 60}}]}, r"client 'ci-bot'\.limits: unknown field\(s\) rpn"),
        ({"teams": [{"name": "t", "limits": {"budget": "1"}}]}, r"team 't'\.limits: unknown field\(s\) budget"),
        ({"clients": [{**CLIENT, "limits": {"rpm": 0}}]}, r"client 'ci-bot'\.limits\.rpm: must be a whole number ≥ 1"),
        ({"clients": [{**CLIENT, "limits": {"tpm": -5}}]}, r"client 'ci-bot'\.limits\.tpm: must be a whole number"),
        ({"teams": [{"name": "t", "limits": {"concurrency": 0}}]}, r"team 't'\.limits\.concurrency"),
        ({"teams": [{"name": "t", "limits": {"concurrency": True}}]}, r"team 't'\.limits\.concurrency"),
        ({"teams": [{"name": "t", "limits": {"rpm": "60"}}]}, r"team 't'\.limits\.rpm: must be a whole number"),
        ({"teams": [{"name": "t", "limits": {"rpm": 1.5}}]}, r"team 't'\.limits\.rpm"),
        ({"teams": [{"name": "t", "limits": {"rpm": 2**40}}]}, r"team 't'\.limits\.rpm: Ensure"),
        ({"clients": [{**CLIENT, "limits": {"budget_usd_day": "-1"}}]}, r"limits\.budget_usd_day: must be a non-neg"),
        ({"clients": [{**CLIENT, "limits": {"budget_usd_day": "ten"}}]}, r"limits\.budget_usd_day: not a decimal"),
        ({"clients": [{**CLIENT, "limits": {"budget_usd_day": ".inf"}}]}, r"limits\.budget_usd_day"),
        ({"clients": [{**CLIENT, "limits": {"budget_usd_month": "0.0000001"}}]}, r"budget_usd_month: Ensure .* 6 dec"),
        ({"clients": [{**CLIENT, "limits": {"budget_usd_month": True}}]}, r"budget_usd_month: must be a number"),
        ({"clients": [{**CLIENT, "limits": {"alert_fractions": "0.8,2"}}]}, r"limits\.alert_fractions: Each fraction"),
        ({"clients": [{**CLIENT, "limits": {"alert_fractions": [0.5, "x"]}}]}, r"alert_fractions: Not a decimal"),
        ({"clients": [{**CLIENT, "limits": {"alert_webhook_url": "ftp://h.example.com/"}}]}, r"alert_webhook_url"),
        ({"clients": [{**CLIENT, "limits": [60]}]}, r"client 'ci-bot'\.limits: must be a mapping"),
        ({"clients": [{**CLIENT, "team": "ghost"}]}, r"client 'ci-bot'\.team: unknown team 'ghost'"),
        ({"teams": [{"name": "two words"}]}, r"teams\[1\]\.name: Enter a valid"),
        ({"teams": [{"name": "t"}, {"name": "t"}]}, r"team 't'\.name: duplicate"),
        ({"teams": [{"name": "t", "members": []}]}, r"teams\[1\]: unknown field\(s\) members"),
        ({"teams": {"name": "t"}}, r"teams: must be a list"),
    ],
)
def test_invalid_limits_fail_naming_the_entry_and_change_nothing(tmp_path, data, message):
    # Valid entries first (a provider, a team, a client): the transaction leaves nothing half-written.
    data = {
        "providers": [{"name": "ok-one", "kind": "ollama"}],
        "teams": [{"name": "ok-team", "limits": {"rpm": 1}}, *data.get("teams", [])]
        if isinstance(data.get("teams", []), list)
        else data["teams"],
        "clients": [{"name": "ok-client", "key": "aip_ok_key_value_00000000"}, *data.get("clients", [])],
    }
    with pytest.raises(CommandError, match=message):
        _load(tmp_path, data)
    assert (Provider.objects.count(), Team.objects.count(), ClientKey.objects.count()) == (0, 0, 0)


# Admin


@pytest.fixture
def admin_client_logged(client, django_user_model):
    user = django_user_model.objects.create_superuser("root", "root@example.com", "pw-123456789")
    client.force_login(user)
    return client


@pytest.fixture
def limited(db):
    team = Team.objects.create(name="search", rpm=600, budget_usd_month=Decimal("1000"))
    key, plaintext = client_key_create(name="ci-bot")
    ClientKey.objects.filter(pk=key.pk).update(team=team, rpm=60, budget_usd_month=Decimal("10.50"))
    client_key_create(name="other")
    return team, ClientKey.objects.get(pk=key.pk), plaintext


def test_team_and_client_key_pages_render_with_limits_and_no_secret(limited, admin_client_logged):
    team, key, plaintext = limited
    teams = admin_client_logged.get(reverse("admin:completions_app_team_changelist")).content.decode()
    assert "search" in teams and "600" in teams
    assert '<td class="field-key_count">1</td>' in teams  # ci-bot; "other" has no team
    keys = admin_client_logged.get(reverse("admin:completions_app_clientkey_changelist")).content.decode()
    assert "60 rpm · $10.5/month" in keys and "—" in keys  # "other": no limits
    for url in (
        reverse("admin:completions_app_team_change", args=[team.pk]),
        reverse("admin:completions_app_team_add"),
        reverse("admin:completions_app_clientkey_change", args=[key.pk]),
        reverse("admin:completions_app_clientkey_add"),
    ):
        page = admin_client_logged.get(url).content.decode()
        assert "Budgets and rate limits" in page
        for name in ("rpm", "tpm", "concurrency", "budget_usd_day", "budget_usd_month", "alert_fractions"):
            assert f'name="{name}"' in page
        assert plaintext not in page and key.key_hash not in page
    page = admin_client_logged.get(reverse("admin:completions_app_clientkey_change", args=[key.pk])).content.decode()
    assert 'name="team"' in page


def test_limits_are_edited_in_the_admin(limited, admin_client_logged):
    team, key, _ = limited
    url = reverse("admin:completions_app_clientkey_change", args=[key.pk])
    form = {
        "name": key.name,
        "active": "on",
        "team": str(team.pk),
        "rpm": "30",
        "tpm": "",
        "concurrency": "2",
        "budget_usd_day": "1.25",
        "budget_usd_month": "",
        "alert_fractions": "0.5,1.0",
        "alert_webhook_url": "https://hooks.example.com/b",
    }
    assert admin_client_logged.post(url, form).status_code == 302
    key.refresh_from_db()
    assert (key.rpm, key.tpm, key.concurrency, key.budget_usd_day, key.budget_usd_month) == (
        30,
        None,
        2,
        Decimal("1.25"),
        None,
    )
    resp = admin_client_logged.post(url, {**form, "rpm": "0", "alert_fractions": "0.5,3"})
    assert resp.status_code == 200  # the form again
    assert sorted(resp.context["adminform"].form.errors) == ["alert_fractions", "rpm"]
    resp = admin_client_logged.post(
        reverse("admin:completions_app_team_add"), {"name": "new-team", "tpm": "1000", "alert_fractions": "0.8,1.0"}
    )
    assert resp.status_code == 302
    assert Team.objects.get(name="new-team").tpm == 1000
