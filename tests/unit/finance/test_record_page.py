"""The record's admin page shows its reasoning tokens, beside the output tokens they are part of."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from django.urls import reverse

from completions_app.models import CompletionRecord

from .conftest import record_create


def _field(html: str, name: str) -> str:
    """The text of a read-only field's value on an admin change page."""
    # A field sharing a row with others sits in its own "fieldBox"; a field alone, in its row.
    match = re.search(rf'class="[^"]*fieldBox field-{name}[^"]*".*?<div class="readonly">(.*?)</div>', html, re.S)
    match = match or re.search(rf'class="[^"]*field-{name}[^"]*".*?<div class="readonly">(.*?)</div>', html, re.S)
    assert match, name
    return match.group(1).strip()


def test_the_record_page_shows_reasoning_tokens(finance_client):
    record = record_create(datetime(2026, 3, 10, 12, tzinfo=UTC), output_tokens=900)
    CompletionRecord.objects.filter(pk=record.pk).update(reasoning_tokens=640)
    url = reverse("admin:completions_app_completionrecord_change", args=[record.pk])
    html = finance_client.get(url).content.decode()
    assert (_field(html, "output_tokens"), _field(html, "reasoning_tokens")) == ("900", "640")
    assert "Of output_tokens, those spent reasoning (priced as output)." in html
    # Shown right after the output tokens it is part of.
    assert html.index("field-output_tokens") < html.index("field-reasoning_tokens") < html.index("field-cache_read")
