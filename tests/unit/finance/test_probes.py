"""Provider probes against the fake upstream: health, latency, safe errors, auto-disable, no secret in logs."""

from __future__ import annotations

import logging
import socket

import pytest

from providers_app.models import Provider, ProviderKey
from providers_app.probes import providers_probe
from providers_app.tasks import probe_providers
from tests.factories import provider_create
from tests.fakes.behaviour import Behaviour
from tests.fakes.server import FakeUpstreamThread

pytestmark = pytest.mark.django_db

GOOD_SECRET = "sk-good-probe-SECRET-1111"
BAD_SECRET = "sk-bad-probe-SECRET-2222"
ANT_SECRET = "sk-ant-probe-SECRET-3333"


@pytest.fixture
def fake_good():
    with FakeUpstreamThread() as fake:
        yield fake


@pytest.fixture
def fake_bad():
    """Answers 401 to every model listing, echoing the key like OpenAI does."""
    with FakeUpstreamThread() as fake:
        fake.script(
            Behaviour.error(401, path="/v1/models", times=-1, message=f"Incorrect API key provided: {BAD_SECRET}.")
        )
        yield fake


@pytest.fixture
def providers(fake_good, fake_bad):
    return {
        "good": provider_create("good", "openai", fake_good.openai_base_url, keys=(GOOD_SECRET,)),
        "ant": provider_create("ant", "anthropic", fake_good.anthropic_base_url, keys=(ANT_SECRET,)),
        "local": provider_create("local", "ollama", fake_good.ollama_base_url, keys=()),
        "bad": provider_create("bad", "openai", fake_bad.openai_base_url, keys=(BAD_SECRET,)),
    }


def _key(provider: str) -> ProviderKey:
    return ProviderKey.objects.defer("secret").get(provider__name=provider)


def test_good_keys_are_healthy_with_latency_and_a_401_key_is_not(providers, fake_good, fake_bad):
    summary = providers_probe()
    assert summary["probed"] == 4
    assert summary["failed"] == ["bad/key1"]

    for name in ("good", "ant"):
        key = _key(name)
        assert key.healthy is True
        assert key.last_probe_latency_ms is not None
        assert key.last_probe_latency_ms > 0
        assert key.last_probe_at is not None
        assert key.last_probe_error == ""
        assert key.consecutive_probe_failures == 0
    bad = _key("bad")
    assert bad.healthy is False
    assert bad.last_probe_latency_ms is None
    assert bad.last_probe_error.startswith("upstream_auth_error:")
    assert BAD_SECRET not in bad.last_probe_error
    assert bad.consecutive_probe_failures == 1
    assert bad.enabled  # PROBE_DISABLE_AFTER=0: never disabled

    by_name = {p.name: p for p in Provider.objects.all()}
    assert by_name["good"].healthy is True
    assert by_name["good"].last_probe_latency_ms > 0
    assert by_name["local"].healthy is True  # keyless ollama: probed via /api/tags
    assert by_name["bad"].healthy is False
    assert by_name["bad"].last_probe_latency_ms is None

    # One authenticated request per key, with that key.
    seen = {r.path: r.headers for r in fake_good.requests}
    assert set(seen) == {"/v1/models", "/api/tags"}
    headers = " ".join(v for r in fake_good.requests for v in r.headers.values())
    assert GOOD_SECRET in headers
    assert ANT_SECRET in headers
    assert [r.headers["authorization"] for r in fake_bad.requests] == [f"Bearer {BAD_SECRET}"]


def test_key_is_disabled_after_n_consecutive_failures(providers, settings, caplog):
    settings.PROBE_DISABLE_AFTER = 2
    caplog.set_level(logging.DEBUG)
    providers_probe()
    assert _key("bad").enabled
    summary = providers_probe()
    bad = _key("bad")
    assert summary["disabled"] == ["bad/key1"]
    assert (bad.enabled, bad.consecutive_probe_failures) == (False, 2)
    assert "bad/key1 disabled after 2 failed probes" in caplog.text
    assert _key("good").enabled

    # A disabled key is not probed again; its provider has no usable key left.
    summary = providers_probe()
    assert "bad/key1" not in summary["failed"]
    assert Provider.objects.get(name="bad").healthy is False
    assert _key("bad").consecutive_probe_failures == 2


def test_a_success_resets_the_failure_count(fake_good, settings):
    settings.PROBE_DISABLE_AFTER = 2
    provider_create("flaky", "openai", fake_good.openai_base_url, keys=(GOOD_SECRET,))
    fake_good.script(Behaviour.error(500, path="/v1/models"))
    providers_probe()
    assert _key("flaky").consecutive_probe_failures == 1
    providers_probe()
    key = _key("flaky")
    assert (key.healthy, key.consecutive_probe_failures, key.enabled) == (True, 0, True)
    fake_good.script(Behaviour.error(500, path="/v1/models"))
    providers_probe()
    assert _key("flaky").enabled  # 1 failure after the reset, not 2 in a row


def test_no_secret_in_any_log(providers, settings, caplog):
    settings.PROBE_DISABLE_AFTER = 1
    caplog.set_level(logging.DEBUG)
    providers_probe()
    assert "bad/key1" in caplog.text  # the failure and the disabling are logged ...
    for secret in (GOOD_SECRET, BAD_SECRET, ANT_SECRET):
        assert secret not in caplog.text  # ... without the key
        assert secret[-12:] not in caplog.text


def test_unreachable_provider_is_a_result_not_a_task_failure(db):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: connections are refused
    provider_create("down", "openai", f"http://127.0.0.1:{port}/v1", keys=(GOOD_SECRET,), timeout_s=2)
    result = probe_providers.apply().get()  # eager or not: run here
    assert result["failed"] == ["down/key1"]
    key = _key("down")
    assert key.healthy is False
    assert key.last_probe_error.startswith("upstream_connection_error:")


def test_disabled_providers_and_keys_are_not_probed(fake_good):
    p = provider_create("off", "openai", fake_good.openai_base_url, keys=(GOOD_SECRET,))
    p.enabled = False
    p.save()
    q = provider_create("keyoff", "openai", fake_good.openai_base_url, keys=(BAD_SECRET,))
    q.keys.update(enabled=False)
    summary = providers_probe()
    assert summary["probed"] == 0
    assert fake_good.requests == []
    assert Provider.objects.get(name="off").healthy is None  # untouched
    assert Provider.objects.get(name="keyoff").healthy is False  # enabled, but nothing to call with


def test_undecryptable_secret_is_reported_without_a_call(fake_good, settings):
    provider_create("rotated", "openai", fake_good.openai_base_url, keys=(GOOD_SECRET,))
    settings.FIELD_ENCRYPTION_KEY = "a-different-key-than-the-one-it-was-stored-under"
    providers_probe()
    key = _key("rotated")
    assert key.healthy is False
    assert key.last_probe_error.startswith("config_error: secret cannot be decrypted")
    assert fake_good.requests == []


@pytest.mark.django_db(transaction=True)
def test_admin_probe_now_without_a_worker_runs_in_the_background_not_in_the_request(
    fake_good, admin_client, monkeypatch
):
    import threading

    from django.urls import reverse

    from aiproxy.celery import app as celery_app
    from providers_app.tasks import BACKGROUND_THREAD_NAME

    # The embedded default: no broker, tasks eager (CI sets REDIS_URL, so force it).
    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)
    fake_good.script(Behaviour.hang(1.0, path="/v1/models", times=-1))  # a slow upstream
    p = provider_create("clicked", "openai", fake_good.openai_base_url, keys=(GOOD_SECRET,))
    other = provider_create("other", "openai", fake_good.openai_base_url, keys=(GOOD_SECRET,))
    resp = admin_client.post(
        reverse("admin:providers_app_provider_changelist"),
        {"action": "probe_now", "_selected_action": [p.pk]},
        follow=True,
    )
    assert resp.redirect_chain[0][1] == 302
    assert "Probe started in the background" in resp.content.decode()
    # The page came back before the probe ended: the probe is in its own thread.
    assert _key("clicked").healthy is None
    threads = [t for t in threading.enumerate() if t.name == BACKGROUND_THREAD_NAME]
    assert len(threads) == 1
    # A second click meanwhile starts nothing more, and says so.
    again = admin_client.post(
        reverse("admin:providers_app_provider_changelist"),
        {"action": "probe_now", "_selected_action": [p.pk]},
        follow=True,
    )
    assert "already running in the background" in again.content.decode()
    assert len([t for t in threading.enumerate() if t.name == BACKGROUND_THREAD_NAME]) == 1
    threads[0].join(timeout=30)
    assert _key("clicked").healthy is True
    assert Provider.objects.get(pk=other.pk).healthy is None  # only the selected providers


def test_admin_probe_now_with_a_broker_queues_a_task_after_commit(
    fake_good, admin_client, django_capture_on_commit_callbacks, monkeypatch
):
    from django.urls import reverse

    from aiproxy.celery import app as celery_app

    monkeypatch.setitem(celery_app.conf, "task_always_eager", False)
    sent: list[dict] = []
    monkeypatch.setattr(probe_providers, "delay", lambda **kw: sent.append(kw))  # Celery's, not ours
    p = provider_create("clicked", "openai", fake_good.openai_base_url, keys=(GOOD_SECRET,))
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        resp = admin_client.post(
            reverse("admin:providers_app_provider_changelist"),
            {"action": "probe_now", "_selected_action": [p.pk]},
            follow=True,
        )
    assert len(callbacks) == 1  # enqueued on commit, not inside the transaction
    assert sent == [{"provider_ids": [p.pk]}]
    assert "Probe started by a Celery worker" in resp.content.decode()
    assert fake_good.requests == []  # nothing ran in the request
