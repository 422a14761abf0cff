"""A client key made or rotated in the admin is shown once, on its own page: never in a cookie, a
message, a redirect, a session, a log line or the admin's history."""

from __future__ import annotations

import logging
import re
from datetime import timedelta

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.sessions.models import Session
from django.urls import reverse
from django.utils import timezone

from completions_app.models import ClientKey
from completions_app.services.auth_cache import identity_lookup
from completions_app.services.client_keys import client_key_create, client_key_hash
from tests.unit.finance.conftest import finance_group_ensure

pytestmark = pytest.mark.django_db

KEY_RE = re.compile(r"aip_[A-Za-z0-9_-]{20,}")


@pytest.fixture(params=["cookie", "fallback", "session"])
def message_storage(request, settings):
    """Every messages backend: a key put in a message would land in a cookie or the session."""
    settings.MESSAGE_STORAGE = {
        "cookie": "django.contrib.messages.storage.cookie.CookieStorage",
        "fallback": "django.contrib.messages.storage.fallback.FallbackStorage",
        "session": "django.contrib.messages.storage.session.SessionStorage",
    }[request.param]
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.db"  # readable rows, to look into
    return request.param


@pytest.fixture
def root(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("root", "root@example.com", "pw-123456789"))
    return client


def _shown_key(resp) -> str:
    """The key on the page: exactly once in the body."""
    body = resp.content.decode()
    keys = KEY_RE.findall(body)
    assert len(keys) == 1, keys
    assert "you will not see it again" in body
    return keys[0]


def _assert_key_nowhere_else(client, responses, plaintext: str, caplog) -> None:
    for resp in responses:
        # No cookie, no header (Location included) carries it; the page is not cached.
        for name, morsel in resp.cookies.items():
            assert plaintext not in morsel.value, name
            assert plaintext not in morsel.OutputString()
        for header, value in resp.headers.items():
            assert plaintext not in value, header
        assert resp.status_code == 200  # rendered in place, never a redirect
    assert "no-store" in responses[-1].headers["Cache-Control"]
    # The next pages, their cookies and the stored sessions do not have it either.
    for url in (reverse("admin:completions_app_clientkey_changelist"), reverse("admin:index")):
        later = client.get(url)
        assert plaintext not in later.content.decode()
        assert all(plaintext not in m.value for m in later.cookies.values())
    assert all(plaintext not in m.value for m in client.cookies.values())
    for session in Session.objects.all():
        assert plaintext not in str(session.get_decoded())
    assert all(plaintext not in (e.change_message + e.object_repr) for e in LogEntry.objects.all())
    assert plaintext not in caplog.text


def test_add_shows_the_new_key_once_on_its_own_page(root, message_storage, caplog):
    caplog.set_level(logging.DEBUG)
    resp = root.post(reverse("admin:completions_app_clientkey_add"), {"name": "from-admin", "active": "on"})
    plaintext = _shown_key(resp)
    row = ClientKey.objects.get(name="from-admin")
    assert row.key_hash == client_key_hash(plaintext) and row.prefix == plaintext[:8]
    assert 'id="copy-key"' in resp.content.decode()  # the copy button
    _assert_key_nowhere_else(root, [resp], plaintext, caplog)


def test_add_with_errors_shows_the_form_and_makes_no_key(root, message_storage):
    client_key_create(name="taken")
    resp = root.post(reverse("admin:completions_app_clientkey_add"), {"name": "taken", "active": "on"})
    assert resp.status_code == 200
    assert KEY_RE.findall(resp.content.decode()) == []
    assert ClientKey.objects.count() == 1


def test_rotate_shows_the_new_key_once_and_keeps_the_old_one_for_the_overlap(root, message_storage, caplog):
    caplog.set_level(logging.DEBUG)
    row, old = client_key_create(name="svc")
    url = reverse("admin:completions_app_clientkey_rotate", args=[row.pk])
    change = root.get(reverse("admin:completions_app_clientkey_change", args=[row.pk])).content.decode()
    assert f'href="{url}"' in change  # the button on the key's page
    form = root.get(url)
    assert form.status_code == 200 and 'name="overlap"' in form.content.decode()

    before = timezone.now()
    resp = root.post(url, {"overlap": "1d"})
    plaintext = _shown_key(resp)
    row.refresh_from_db()
    assert row.key_hash == client_key_hash(plaintext)
    assert row.previous_key_hash == client_key_hash(old)
    assert before + timedelta(days=1) <= row.previous_key_expires_at <= timezone.now() + timedelta(days=1)
    assert identity_lookup(client_key_hash(plaintext)) is not None
    assert identity_lookup(client_key_hash(old)) is not None  # within the overlap
    _assert_key_nowhere_else(root, [form, resp], plaintext, caplog)
    assert LogEntry.objects.filter(object_id=str(row.pk), change_message__contains="Rotated").exists()


def test_rotate_without_overlap_stops_the_old_key_now(root):
    row, old = client_key_create(name="svc")
    resp = root.post(reverse("admin:completions_app_clientkey_rotate", args=[row.pk]), {"overlap": "0"})
    plaintext = _shown_key(resp)
    assert identity_lookup(client_key_hash(old)) is None
    assert identity_lookup(client_key_hash(plaintext)) is not None


@pytest.mark.parametrize("overlap", ["", "99y", "-1d"])
def test_rotate_with_a_bad_overlap_changes_nothing(root, overlap):
    row, old = client_key_create(name="svc")
    resp = root.post(reverse("admin:completions_app_clientkey_rotate", args=[row.pk]), {"overlap": overlap})
    assert resp.status_code == 200 and "errorlist" in resp.content.decode()
    assert KEY_RE.findall(resp.content.decode()) == []
    row.refresh_from_db()
    assert row.key_hash == client_key_hash(old)


def test_rotate_is_refused_to_a_finance_user_and_unknown_keys_are_404(client, django_user_model, root):
    row, old = client_key_create(name="svc")
    url = reverse("admin:completions_app_clientkey_rotate", args=[row.pk])
    assert root.get(reverse("admin:completions_app_clientkey_rotate", args=[row.pk + 99])).status_code == 404
    assert root.get(reverse("admin:completions_app_clientkey_rotate", args=["x"])).status_code == 404
    user = django_user_model.objects.create_user("fin", "fin@example.com", "pw-123456789", is_staff=True)
    user.groups.add(finance_group_ensure())
    client.force_login(user)
    assert client.post(url, {"overlap": "0"}).status_code == 403
    row.refresh_from_db()
    assert row.key_hash == client_key_hash(old)
