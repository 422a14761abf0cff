"""Management tokens: `createmanagementtoken` prints one once (only its hash stored, its user
in the role's group); the admin shows a new one once, on its own page, never in a message."""

from __future__ import annotations

import hashlib
from io import StringIO

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import CommandError, call_command
from django.test import Client

from completions_app.models import ManagementToken
from completions_app.services.management_tokens import ROLE_PERMISSIONS


def test_command_prints_the_token_once_and_stores_its_hash(db):
    out = StringIO()
    call_command("createmanagementtoken", "bi-tool", "--role", "finance", stdout=out)
    token = out.getvalue().strip()
    row = ManagementToken.objects.get(name="bi-tool")
    assert token.startswith("aipm_") and row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in str(ManagementToken.objects.values().get())
    user = row.user
    assert user.username == "token:bi-tool" and not user.is_staff and not user.has_usable_password()
    assert [g.name for g in user.groups.all()] == ["finance"]
    assert user.has_perm("completions_app.view_completionrecord") and not user.has_perm("providers_app.view_provider")
    with pytest.raises(CommandError, match="exists"):
        call_command("createmanagementtoken", "bi-tool", "--role", "admin", stdout=StringIO())
    with pytest.raises(CommandError):
        call_command("createmanagementtoken", "bad name!", "--role", "admin", stdout=StringIO())
    with pytest.raises(CommandError):
        call_command("createmanagementtoken", "x", "--role", "root", stdout=StringIO(), stderr=StringIO())


@pytest.mark.parametrize("role", ["admin", "finance"])
def test_the_migrated_groups_hold_the_roles_permissions(db, role):
    group = Group.objects.get(name=role)
    have = {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.select_related("content_type")}
    assert set(ROLE_PERMISSIONS[role]) <= have
    if role == "finance":
        assert not have & {"providers_app.view_provider", "providers_app.view_providerkey"}


def test_admin_add_shows_the_token_on_its_own_page_and_not_in_messages(db):
    root = User.objects.create_superuser("root", password="pw-root-123456")  # noqa: S106
    browser = Client()
    browser.force_login(root)
    r = browser.post("/admin/completions_app/managementtoken/add/", {"name": "ci", "role": "admin"})
    assert r.status_code == 200 and "no-store" in r["Cache-Control"]
    page = r.content.decode()
    row = ManagementToken.objects.get(name="ci")
    token = page.split('id="management-token"', 1)[1].split(">", 1)[1].split("<", 1)[0]
    assert token.startswith("aipm_") and hashlib.sha256(token.encode()).hexdigest() == row.token_hash
    assert "messages" not in r.cookies and token not in str(browser.session.items())
    listing = browser.get("/admin/completions_app/managementtoken/").content.decode()
    assert "ci" in listing and token not in listing
    change = browser.get(f"/admin/completions_app/managementtoken/{row.pk}/change/").content.decode()
    assert token not in change and row.prefix in change
    assert Client().get("/api/v1/teams", headers={"Authorization": f"Bearer {token}"}).status_code == 200
