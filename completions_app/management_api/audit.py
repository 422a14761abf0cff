"""Every write through the API leaves a django.contrib.admin LogEntry: who (the token's user or
the staff user), when, which object, and which fields changed (names only, never values:
a provider key's secret is "secret", nothing more). The admin's History shows them."""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Model as DjangoModel


def _log(user: AbstractBaseUser, obj: DjangoModel, flag: int, message: list[dict]) -> LogEntry:
    # log_actions writes one row per object (Django >= 5.1); single_object returns it.
    return LogEntry.objects.log_actions(
        user_id=user.pk, queryset=[obj], action_flag=flag, change_message=message, single_object=True
    )


def audit_created(user: AbstractBaseUser, obj: DjangoModel) -> LogEntry:
    return _log(user, obj, ADDITION, [{"added": {}}])


def audit_changed(user: AbstractBaseUser, obj: DjangoModel, fields: Iterable[str]) -> LogEntry:
    """`fields`: the names that changed, or a few words for an action ("key rotated")."""
    return _log(user, obj, CHANGE, [{"changed": {"fields": sorted(set(fields))}}])


def audit_deleted(user: AbstractBaseUser, obj: DjangoModel) -> LogEntry:
    return _log(user, obj, DELETION, [{"deleted": {}}])
