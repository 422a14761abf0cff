"""Finance report pages: staff with view permission on cost records (the `finance` group)."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import date
from typing import Any

from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import permission_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import urlencode

from completions_app.csv_download import csv_streaming_response

from .budgets import BUDGET_CSV_HEADER, budget_csv_rows, budget_report
from .finance import FinanceReport, finance_report, range_filters, records_admin_url, report_records, table_rows
from .forms import ReportRangeForm
from .periods import PRESETS, matching_preset
from .summary_csv import TABLES, summary_csv

PERMISSION = "completions_app.view_completionrecord"
# The totals block: (element id, label, key in the totals, formatted as).
TOTALS = (
    ("total-cost", "Cost", "cost_usd", "money"),
    ("total-saved", "Saved by cache", "cost_saved_usd", "money"),
    ("total-requests", "Requests", "requests", "integer"),
    ("total-errors", "Errors", "errors", "integer"),
    ("total-cache-hits", "Cache hits", "cache_hits", "integer"),
    ("total-input-tokens", "Input tokens", "input_tokens", "integer"),
    ("total-output-tokens", "Output tokens", "output_tokens", "integer"),
)


View = Callable[..., HttpResponse]


def _guard(view: View) -> View:
    # Not staff: the admin login page. Staff without the permission: 403.
    return staff_member_required(permission_required(PERMISSION, raise_exception=True)(view))


def _range_query(start: date, end: date) -> str:
    return urlencode({"start": start.isoformat(), "end": end.isoformat()})


def _presets(form: ReportRangeForm, start: date | None, end: date | None) -> list[dict[str, Any]]:
    active = form.cleaned_data.get("preset") if form.is_valid() else None
    if not active and start and end:
        active = matching_preset(start, end, today=form.today)
    base = reverse("finance:report")
    return [
        {"key": p.key, "label": p.label, "url": f"{base}?preset={p.key}", "active": p.key == active} for p in PRESETS
    ]


def _report_context(report: FinanceReport) -> dict[str, Any]:
    query = _range_query(report.start, report.end)
    return {
        "report": report,
        "totals": [
            {"id": i, "label": label, "value": report.totals[k], "previous": report.previous[k], "kind": kind}
            for i, label, k, kind in TOTALS
        ],
        "csv_url": f"{reverse('finance:export')}?{query}",
        "tables": [
            {
                "name": t,
                "label": t.capitalize(),
                "rows": report.by_day if t == "day" else report.by_group[t],
                "csv_url": f"{reverse('finance:summary_export', args=[t])}?{query}",
            }
            for t in TABLES
        ],
        "records_url": records_admin_url(**range_filters(report.start, report.end)),
        "previous_url": f"{reverse('finance:report')}?{_range_query(report.previous_start, report.previous_end)}",
    }


@_guard
def report(request: HttpRequest) -> HttpResponse:
    form = ReportRangeForm.from_query(request.GET)
    valid = form.is_valid()
    start, end = (form.cleaned_data["start"], form.cleaned_data["end"]) if valid else (None, None)
    presets = _presets(form, start, end)
    context: dict[str, Any] = {
        **admin.site.each_context(request),
        "title": "Finance report",
        "form": form,
        "presets": presets,
        "active_preset": next((p["label"] for p in presets if p["active"]), ""),
        "report": None,
        # Now, whatever the range: each budget's current day and month.
        "budgets": budget_report(),
        "budgets_csv_url": reverse("finance:budgets_export"),
    }
    if valid:
        context.update(_report_context(finance_report(start=start, end=end)))
    return render(request, "admin/finance/report.html", context)


@_guard
def export(request: HttpRequest) -> HttpResponse:
    form = ReportRangeForm.from_query(request.GET)
    if not form.is_valid():
        return HttpResponseBadRequest(form.errors.as_text(), content_type="text/plain")
    start, end = form.cleaned_data["start"], form.cleaned_data["end"]
    return csv_streaming_response(
        request, report_records(start=start, end=end), filename=f"ai-proxy-costs-{start}-to-{end}.csv"
    )


def _csv_response(body: str, filename: str) -> HttpResponse:
    response = HttpResponse(body, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response


@_guard
def summary_export(request: HttpRequest, table: str) -> HttpResponse:
    """One of the report's tables as CSV, for the range of the query string."""
    if table not in TABLES:
        raise Http404("No such table.")
    form = ReportRangeForm.from_query(request.GET)
    if not form.is_valid():
        return HttpResponseBadRequest(form.errors.as_text(), content_type="text/plain")
    start, end = form.cleaned_data["start"], form.cleaned_data["end"]
    body = summary_csv(start=start, end=end, table=table, rows=table_rows(start=start, end=end, table=table))
    return _csv_response(body, f"ai-proxy-costs-by-{table}-{start}-to-{end}.csv")


@_guard
def budgets_export(request: HttpRequest) -> HttpResponse:
    """The report's budgets as CSV (a few rows: one per team and key with a budget)."""
    report = budget_report()
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(BUDGET_CSV_HEADER)
    writer.writerows(budget_csv_rows(report))
    return _csv_response(out.getvalue(), f"ai-proxy-budgets-{report.day}.csv")
