"""Streamed CSV downloads of cost records (the report's link and the admin list's action).

The rows come from completions_app.services.cost_export (the exportcosts format). Under
ASGI, Django buffers a *sync* iterator of a StreamingHttpResponse into a list before
sending it, which would hold a whole range in memory; so under ASGI the lines are
handed over as an async iterator that pulls batches from the database cursor.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from itertools import islice

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.db.models import QuerySet
from django.http import HttpRequest, StreamingHttpResponse

from completions_app.models import CompletionRecord
from completions_app.services.cost_export import csv_lines

BATCH_LINES = 1000


def _take(lines: Iterator[str], n: int) -> str:
    return "".join(islice(lines, n))


async def _async_lines(lines: Iterator[str]) -> AsyncIterator[str]:
    # thread_sensitive: every batch runs on the request's one sync thread, where the
    # database cursor behind `lines` was opened.
    take = sync_to_async(_take, thread_sensitive=True)
    while chunk := await take(lines, BATCH_LINES):
        yield chunk


def csv_streaming_response(
    request: HttpRequest, qs: QuerySet[CompletionRecord], *, filename: str
) -> StreamingHttpResponse:
    lines = csv_lines(qs)
    content: Iterator[str] | AsyncIterator[str] = _async_lines(lines) if isinstance(request, ASGIRequest) else lines
    response = StreamingHttpResponse(content, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response
