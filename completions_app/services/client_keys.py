"""Client keys: created once, stored as a SHA-256 hash, looked up by hash."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from datetime import datetime

from django.db import transaction

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
