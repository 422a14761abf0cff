"""Management-API tokens: created once, stored as a SHA-256 hash, each with its own Django user.

The prefix `aipm_` differs from client keys' `aip_` so a token pasted in the wrong place is
recognisable; each kind is looked up only in its own table, so neither works on the other's API.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Group, Permission
from django.core.exceptions import ValidationError
from django.core.validators import validate_slug
from django.db import transaction
from django.utils import timezone

from completions_app.models import ManagementToken

TOKEN_PREFIX = "aipm_"  # noqa: S105 - a prefix, not a secret
MAX_PRESENTED_TOKEN_LEN = 256
USER_PREFIX = "token:"
# last_used_at is written at most this often per token: not one UPDATE per API call.
LAST_USED_RESOLUTION = timedelta(minutes=1)


# Each role's group and its permissions, as migration 0009 creates them (kept here too so a
# token created on a database emptied since, e.g. by a test flush, still gets its group whole).
_MANAGED = ("providers_app.provider", "providers_app.providerkey", "providers_app.model", "providers_app.modelfallback",
            "completions_app.team", "completions_app.clientkey")  # fmt: skip
_READ = ("providers_app.modelprice", "completions_app.completionrecord", "completions_app.costrollup")
ROLE_PERMISSIONS: dict[str, tuple[str, ...]] = {
    ManagementToken.Role.ADMIN: tuple(
        f"{model.split('.')[0]}.{action}_{model.split('.')[1]}"
        for model in _MANAGED
        for action in ("add", "change", "delete", "view")
    )
    + tuple(f"{model.split('.')[0]}.view_{model.split('.')[1]}" for model in _READ),
    ManagementToken.Role.FINANCE: (
        "completions_app.view_completionrecord",
        "completions_app.view_costrollup",
        "providers_app.view_modelprice",
    ),
}


def role_group(role: str) -> Group:
    """The role's group (named as the role), with at least its permissions."""
    group, _ = Group.objects.get_or_create(name=role)
    wanted = [name.split(".") for name in ROLE_PERMISSIONS[role]]
    perms = Permission.objects.filter(content_type__app_label__in={a for a, _ in wanted}).select_related("content_type")
    group.permissions.add(*[p for p in perms if [p.content_type.app_label, p.codename] in wanted])
    return group


def management_token_hash(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode("utf-8", "surrogatepass")).hexdigest()


def management_token_generate() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_user_name(name: str) -> str:
    return f"{USER_PREFIX}{name}"


@transaction.atomic
def management_token_create(*, name: str, role: str) -> tuple[ManagementToken, str]:
    """A new token and its user `token:<name>` in the role's group. Returns the row and the
    plaintext, which is never stored. ValueError for an unknown role or a name in use."""
    if role not in ManagementToken.Role.values:
        raise ValueError(f"role must be one of {', '.join(ManagementToken.Role.values)}")
    try:
        validate_slug(name)
    except ValidationError:
        raise ValueError("name: use letters, digits, - and _ only") from None
    if ManagementToken.objects.filter(name=name).exists():
        raise ValueError(f"a management token named {name!r} exists")
    user_model = get_user_model()
    username = token_user_name(name)
    if user_model.objects.filter(username=username).exists():
        raise ValueError(f"a user named {username!r} exists")
    user = user_model(username=username, is_staff=False, is_superuser=False, is_active=True)
    user.set_unusable_password()  # a token's user can never log in with a password
    user.save()
    user.groups.add(role_group(role))
    plaintext = management_token_generate()
    row = ManagementToken.objects.create(
        name=name, role=role, token_hash=management_token_hash(plaintext), prefix=plaintext[:9], user=user
    )
    return row, plaintext


def management_token_user(presented: str) -> AbstractBaseUser | None:
    """The user behind an active token, or None (unknown, revoked, or not token-shaped)."""
    if not presented.startswith(TOKEN_PREFIX) or len(presented) > MAX_PRESENTED_TOKEN_LEN:
        return None
    digest = management_token_hash(presented)
    row = ManagementToken.objects.filter(token_hash=digest, active=True).select_related("user").first()
    if row is None or not hmac.compare_digest(row.token_hash, digest) or not row.user.is_active:
        return None
    now = timezone.now()
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_RESOLUTION:
        ManagementToken.objects.filter(pk=row.pk).update(last_used_at=now)
    return row.user


@transaction.atomic
def management_token_revoke(row: ManagementToken) -> None:
    row.active = False
    row.save(update_fields=["active"])
