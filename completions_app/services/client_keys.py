"""Client keys: created once, stored as a SHA-256 hash, looked up by hash."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from completions_app.models import ClientKey
from providers_app.models import Model

KEY_PREFIX = "aip_"
MAX_PRESENTED_KEY_LEN = 256  # real keys are ~47 chars; anything longer is junk


def client_key_hash(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode("utf-8", "surrogatepass")).hexdigest()


def client_key_generate() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


@transaction.atomic
def client_key_create(
    *,
    name: str,
    plaintext: str | None = None,
    model_names: Iterable[str] = (),
    expires_at: datetime | None = None,
) -> tuple[ClientKey, str]:
    """Create (or, given the same name, replace the secret of) a client key.

    Returns the row and the plaintext, which is never stored.
    """
    plaintext = plaintext or client_key_generate()
    names = list(model_names)
    models = list(Model.objects.filter(name__in=names))
    unknown = sorted(set(names) - {m.name for m in models})
    if unknown:
        raise ValueError(f"unknown model(s): {', '.join(unknown)}")
    key, _ = ClientKey.objects.update_or_create(
        name=name,
        defaults={
            "key_hash": client_key_hash(plaintext),
            "prefix": plaintext[:8],
            "expires_at": expires_at,
            "active": True,
        },
    )
    key.allowed_models.set(models)
    return key, plaintext


@transaction.atomic
def client_key_rotate(key: ClientKey, overlap: timedelta = timedelta(0)) -> tuple[ClientKey, str]:
    """Give the key a new secret; the old one keeps working for `overlap` (0 = stops at once).

    The row (name, team, limits, allowed models, records) stays the same; only the secret
    changes. Returns the row and the new plaintext, which is never stored. A key presented
    after its window has ended is refused within the auth cache's few seconds.
    """
    if overlap < timedelta(0):
        raise ValueError("overlap must not be negative")
    row = ClientKey.objects.select_for_update().get(pk=key.pk)
    plaintext = client_key_generate()
    if overlap > timedelta(0):
        row.previous_key_hash = row.key_hash
        row.previous_key_expires_at = timezone.now() + overlap
    else:
        row.previous_key_hash = ""
        row.previous_key_expires_at = None
    row.key_hash = client_key_hash(plaintext)
    row.prefix = plaintext[:8]
    row.save(update_fields=["key_hash", "prefix", "previous_key_hash", "previous_key_expires_at"])
    return row, plaintext
