"""Every write leaves a LogEntry with the acting user and the changed field names (never
values), which the admin shows in the object's History."""

from __future__ import annotations

from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.contrib.auth.models import User
from django.test import Client

from completions_app.models import ClientKey


def _entries(obj_id) -> list[LogEntry]:
    return list(LogEntry.objects.filter(object_id=str(obj_id)).order_by("id"))


def test_each_write_is_logged_with_who_and_which_fields(rows, admin_api, admin_session):
    r = admin_api.post("/api/v1/teams", {"name": "search", "rpm": 60})
    team_id = r.json()["id"]
    admin_session.patch(f"/api/v1/teams/{team_id}", {"rpm": 120, "tpm": 1000, "name": "search"})
    admin_api.patch(f"/api/v1/teams/{team_id}", {"rpm": 120})  # no change: nothing to log
    admin_api.delete(f"/api/v1/teams/{team_id}")
    added, changed, deleted = _entries(team_id)
    assert (added.action_flag, added.user.username, added.object_repr) == (ADDITION, "token:deploy-bot", "search")
    assert (changed.action_flag, changed.user.username) == (CHANGE, "ada")
    assert changed.get_change_message() == "Changed rpm and tpm."
    assert (deleted.action_flag, deleted.user.username) == (DELETION, "token:deploy-bot")

    key = admin_api.post("/api/v1/client-keys", {"name": "svc2"}).json()
    admin_api.post(f"/api/v1/client-keys/{key['id']}/rotate", {"overlap_seconds": 60})
    admin_api.delete(f"/api/v1/client-keys/{key['id']}")
    messages = [e.get_change_message() for e in _entries(key["id"])]
    assert messages[0] == "Added."
    assert "rotated" in messages[1] and "revoked" in messages[2]
    assert not any(key["key"] in e.change_message for e in LogEntry.objects.all())


def test_the_admin_history_page_shows_api_writes(rows, admin_api):
    created = admin_api.post("/api/v1/client-keys", {"name": "svc2"}).json()
    key_id = created["id"]
    admin_api.patch(f"/api/v1/client-keys/{key_id}", {"rpm": 5})
    root = User.objects.create_superuser("root", password="pw-root-123456")  # noqa: S106
    browser = Client()
    browser.force_login(root)
    page = browser.get(f"/admin/completions_app/clientkey/{key_id}/history/").content.decode()
    assert "token:deploy-bot" in page and "Changed rpm." in page
    listing = browser.get("/admin/admin/logentry/").content.decode()
    assert "svc2" in listing and created["key"] not in listing
    assert ClientKey.objects.get(pk=key_id).key_hash not in listing


def test_an_update_logs_only_what_changed(rows, admin_api):
    created = admin_api.post("/api/v1/client-keys", {"name": "svc2", "allowed_models": ["gpt-big"]}).json()
    same = admin_api.patch(f"/api/v1/client-keys/{created['id']}", {"allowed_models": ["gpt-big"], "rpm": None})
    assert same.status_code == 200
    admin_api.patch(f"/api/v1/client-keys/{created['id']}", {"allowed_models": ["gpt-big", "gpt-mini"]})
    messages = [e.get_change_message() for e in _entries(created["id"])]
    assert messages == ["Added.", "Changed allowed_models."]
