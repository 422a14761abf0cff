"""Secrets at rest: Fernet (AES-128-CBC + HMAC) under a key derived from FIELD_ENCRYPTION_KEY."""

from __future__ import annotations

import base64
import hashlib
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.db import models

PREFIX = "fernet:"


@lru_cache(maxsize=4)
def _fernet(key_material: str) -> Fernet:
    # Any string is accepted as key material; SHA-256 gives Fernet its 32 bytes.
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(key_material.encode()).digest()))


def secret_encrypt(plaintext: str) -> str:
    return PREFIX + _fernet(settings.FIELD_ENCRYPTION_KEY).encrypt(plaintext.encode()).decode()


def secret_decrypt(stored: str) -> str:
    if not stored.startswith(PREFIX):
        raise ValueError("value is not an encrypted secret")
    try:
        return _fernet(settings.FIELD_ENCRYPTION_KEY).decrypt(stored[len(PREFIX) :].encode()).decode()
    except InvalidToken as exc:
        raise ValueError("secret cannot be decrypted: was FIELD_ENCRYPTION_KEY changed?") from exc


def secret_mask(plaintext: str) -> str:
    """What humans may see of a secret: its last four characters."""
    if not plaintext:
        return ""
    return "…" + plaintext[-4:] if len(plaintext) > 8 else "…"


class EncryptedTextField(models.TextField):
    """Holds ciphertext in the database, plaintext in Python."""

    def from_db_value(self, value: str | None, expression: object, connection: object) -> str | None:
        if value is None or value == "":
            return value
        return secret_decrypt(value)

    def get_prep_value(self, value: object) -> str | None:
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return secret_encrypt(value)
