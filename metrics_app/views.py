"""Finance report pages: staff with view permission on cost records (the `finance` group)."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable

from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import urlencode

from completions_app.csv_download import csv_streaming_response

from .budgets import BUDGET_CSV_HEADER, budget_csv_rows, budget_report
from .finance import finance_report, records_admin_url, report_records
from .forms import ReportRangeForm

PERMISSION = "completions_app.view_completionrecord"


View = Callable[[HttpRequest], HttpResponse]


def _guard(view: View) -> View:
    # Not staff: the admin login page. Staff without the permission: 403.
    return staff_member_required(permission_required(PERMISSION, raise_exception=True)(view))


@_guard
def report(request: HttpRequest) -> HttpResponse:
    form = ReportRangeForm.from_query(request.GET)
    context = {
        **admin.site.each_context(request),
        "title": "Finance report",
        "form": form,
        "report": None,
        # Now, whatever the range: each budget's current day and month.
        "budgets": budget_report(),
        "budgets_csv_url": reverse("finance:budgets_export"),
    }
    if form.is_valid():
        start, end = form.cleaned_data["start"], form.cleaned_data["end"]
        query = urlencode({"start": start.isoformat(), "end": end.isoformat()})
        context.update(
            report=finance_report(start=start, end=end),
            csv_url=f"{reverse('finance:export')}?{query}",
            records_url=records_admin_url(
                created_at__date__gte=start.isoformat(), created_at__date__lte=end.isoformat()
            ),
        )
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


@_guard
def budgets_export(request: HttpRequest) -> HttpResponse:
    """The report's budgets as CSV (a few rows: one per team and key with a budget)."""
    report = budget_report()
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(BUDGET_CSV_HEADER)
    writer.writerows(budget_csv_rows(report))
    response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="ai-proxy-budgets-{report.day}.csv"'
    response["Cache-Control"] = "no-store"
    return response
