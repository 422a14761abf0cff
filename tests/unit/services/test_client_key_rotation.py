"""client_key_rotate: a new secret on the same row; the previous one works only inside the
overlap window, and the identity found through it expires when the window does."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from completions_app.models import ClientKey
from completions_app.services import auth_cache
from completions_app.services.client_keys import client_key_hash, client_key_rotate
from tests.factories import client_create


def _lookup(plaintext: str):
    return auth_cache.identity_lookup(client_key_hash(plaintext))


@pytest.mark.django_db
def test_rotation_without_overlap_retires_the_old_secret_at_once():
    old = client_create("svc")
    row, new = client_key_rotate(ClientKey.objects.get(name="svc"))
    assert new != old and row.prefix == new[:8]
    assert _lookup(old) is None
    identity = _lookup(new)
    assert identity is not None and identity.id == row.id and identity.expires_at is None


@pytest.mark.django_db
def test_inside_the_window_both_secrets_work_and_the_old_one_carries_the_window_end():
    old = client_create("svc")
    before = timezone.now()
    row, new = client_key_rotate(ClientKey.objects.get(name="svc"), overlap=timedelta(hours=1))
    old_identity, new_identity = _lookup(old), _lookup(new)
    assert old_identity.id == new_identity.id == row.id
    assert new_identity.expires_at is None
    assert before + timedelta(minutes=59) < old_identity.expires_at <= timezone.now() + timedelta(hours=1)


@pytest.mark.django_db
def test_after_the_window_the_old_secret_is_unknown():
    old = client_create("svc")
    client_key_rotate(ClientKey.objects.get(name="svc"), overlap=timedelta(hours=1))
    ClientKey.objects.filter(name="svc").update(previous_key_expires_at=timezone.now() - timedelta(seconds=1))
    assert _lookup(old) is None


@pytest.mark.django_db
def test_the_window_never_outlives_the_key_itself():
    old = client_create("svc")
    ends = timezone.now() + timedelta(minutes=10)
    ClientKey.objects.filter(name="svc").update(expires_at=ends)
    client_key_rotate(ClientKey.objects.get(name="svc"), overlap=timedelta(days=1))
    assert _lookup(old).expires_at == ends


@pytest.mark.django_db
def test_a_second_rotation_replaces_the_previous_secret_and_a_revoked_key_answers_nothing():
    first = client_create("svc")
    _, second = client_key_rotate(ClientKey.objects.get(name="svc"), overlap=timedelta(hours=1))
    _, third = client_key_rotate(ClientKey.objects.get(name="svc"), overlap=timedelta(hours=1))
    assert _lookup(first) is None
    assert _lookup(second) is not None and _lookup(third) is not None
    ClientKey.objects.filter(name="svc").update(active=False)
    assert _lookup(second) is None and _lookup(third) is None


@pytest.mark.django_db
def test_negative_overlap_is_refused():
    client_create("svc")
    with pytest.raises(ValueError):
        client_key_rotate(ClientKey.objects.get(name="svc"), overlap=timedelta(seconds=-1))
