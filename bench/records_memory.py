"""Peak memory of listing cost records through the management API, at two table sizes.

    .venv/bin/python -m bench.records_memory
    .venv/bin/python -m bench.records_memory --sizes 10000,100000 --pg postgres://postgres@127.0.0.1:5432/postgres

On a throw-away database (a migrated SQLite file in a temporary directory, or with --pg a
database created next to the given URL's and dropped at the end), records are added until the
table holds each size; then, through the ASGI application in-process (as `serve` runs it, with
production settings), two listings of every record are made and their bodies discarded:

- csv: GET /api/v1/records?format=csv (one streamed response);
- json: GET /api/v1/records?page_size=1000, then each `next` cursor link to the end.

Per listing it prints the peak of Python allocations during it (tracemalloc, reset before
each) and the process's peak RSS during it (VmHWM, reset through /proc/self/clear_refs).
Constant memory means the peaks do not grow with the table size.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import sys
import tempfile
import time
import tracemalloc
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlparse, urlsplit, urlunparse

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000", help="table sizes, ascending, comma-separated")
    parser.add_argument("--page-size", type=int, default=1000, help="JSON page size (1..1000)")
    parser.add_argument(
        "--collect",
        action="store_true",
        help="gc.collect() between JSON pages (tells garbage not yet collected from growth)",
    )
    parser.add_argument("--pg", default="", help="a PostgreSQL URL: bench on a new database on that server")
    return parser.parse_args()


ARGS = parse()
TMP = tempfile.TemporaryDirectory(prefix="records-memory-")
DB_NAME = f"records_memory_{uuid.uuid4().hex[:8]}"
if ARGS.pg:
    os.environ["DATABASE_URL"] = urlunparse(urlparse(ARGS.pg)._replace(path=f"/{DB_NAME}"))
else:
    os.environ["DATABASE_URL"] = f"sqlite:///{TMP.name}/bench.sqlite3"
os.environ.update(
    DJANGO_SETTINGS_MODULE="aiproxy.settings",
    DEBUG="0",  # production settings, as `serve` runs (DEBUG=1 would also keep every query)
    SECRET_KEY=uuid.uuid4().hex * 2,
    FIELD_ENCRYPTION_KEY=uuid.uuid4().hex * 2,
    ALLOWED_HOSTS="127.0.0.1",
    LOG_LEVEL="WARNING",
    REDIS_URL="",
)


def pg_admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(ARGS.pg, autocommit=True) as conn:
        conn.execute(sql)


if ARGS.pg:
    pg_admin(f'CREATE DATABASE "{DB_NAME}"')

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connections  # noqa: E402

from completions_app.models import CompletionRecord  # noqa: E402
from completions_app.services.management_tokens import management_token_create  # noqa: E402

START = datetime(2026, 1, 1, tzinfo=UTC)
MODELS = (("gpt-4o-mini", "oa"), ("claude-3-5-haiku", "an"), ("llama3", "ol"))


def records_add(count: int, first: int) -> None:
    rng = random.Random(first)
    batch: list[CompletionRecord] = []
    for i in range(first, first + count):
        model, provider = rng.choice(MODELS)
        batch.append(
            CompletionRecord(
                created_at=START + timedelta(seconds=i * 7),
                request_id=f"bench-{i}",
                client_name=rng.choice(("svc-a", "svc-b")),
                model=model,
                served_model=model,
                provider=provider,
                provider_key="key1",
                status="ok",
                input_tokens=rng.randrange(10, 4000),
                output_tokens=rng.randrange(10, 2000),
                cost_usd=Decimal(rng.randrange(0, 10**10)).scaleb(-12),
                latency_ms=rng.random() * 2000,
            )
        )
        if len(batch) == 5000:
            CompletionRecord.objects.bulk_create(batch)
            batch = []
    CompletionRecord.objects.bulk_create(batch)


def rss_peak_reset() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS


def rss_peak_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def get(app, url: str, token: str, *, keep_body: bool) -> tuple[int, bytes]:  # noqa: ANN001
    """One request through the ASGI app; the body is counted (and kept only if asked)."""
    parts = urlsplit(url)
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
        "path": parts.path, "raw_path": parts.path.encode(), "query_string": parts.query.encode(),
        "headers": [(b"host", b"127.0.0.1"), (b"authorization", f"Bearer {token}".encode())],
        "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 8080),
    }  # fmt: skip
    received = 0
    kept: list[bytes] = []
    sent_request = False

    async def receive() -> dict:
        nonlocal sent_request
        if not sent_request:
            sent_request = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.Event().wait()  # no disconnect while the answer streams
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        nonlocal received
        if message["type"] == "http.response.body":
            received += len(message.get("body", b""))
            if keep_body:
                kept.append(message.get("body", b""))

    await app(scope, receive, send)
    return received, b"".join(kept)


async def listing_csv(app, token: str) -> tuple[int, int]:  # noqa: ANN001
    size, _ = await get(app, "http://127.0.0.1/api/v1/records?format=csv", token, keep_body=False)
    return size, 1


async def listing_json(app, token: str) -> tuple[int, int]:  # noqa: ANN001
    url, total, pages, seen = f"http://127.0.0.1/api/v1/records?page_size={ARGS.page_size}", 0, 0, 0
    while url:
        size, body = await get(app, url, token, keep_body=True)
        page = json.loads(body)
        total += size
        pages += 1
        seen += len(page["results"])
        url = page["next"]
        del page, body
        if ARGS.collect:
            gc.collect()
    return total, pages


def measure(app, token: str, name: str, listing) -> dict:  # noqa: ANN001
    rss_peak_reset()
    rss_before = rss_peak_mb()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    started = time.perf_counter()
    size, pages = asyncio.run(listing(app, token))
    elapsed = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1] - base
    return {"listing": name, "bytes": size, "pages": pages, "seconds": elapsed,
            "py_peak_mb": peak / 2**20, "rss_peak_growth_mb": rss_peak_mb() - rss_before}  # fmt: skip


def main() -> None:
    call_command("migrate", verbosity=0)
    _, token = management_token_create(name="bench", role="finance")
    from aiproxy.asgi import application  # after migrate: importing it sets up the gateway

    tracemalloc.start()
    have = 0
    print(f"database: {connections['default'].vendor}")
    print("| records | listing | body MB | pages | seconds | Python peak MB | RSS peak growth MB |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    for size in (int(s) for s in ARGS.sizes.split(",")):
        tracemalloc.stop()  # creating rows is not what is measured
        records_add(size - have, have)
        have = size
        if size == int(ARGS.sizes.split(",")[0]):  # warm-up: imports and first-use caches are not listings
            asyncio.run(listing_csv(application, token))
            asyncio.run(listing_json(application, token))
        tracemalloc.start()
        for name, listing in (("csv", listing_csv), (f"json (cursor pages of {ARGS.page_size})", listing_json)):
            m = measure(application, token, name, listing)
            print(f"| {size:,} | {name} | {m['bytes'] / 2**20:.1f} | {m['pages']} | {m['seconds']:.1f} | "
                  f"{m['py_peak_mb']:.1f} | {m['rss_peak_growth_mb']:.1f} |", flush=True)  # fmt: skip


try:
    main()
finally:
    connections.close_all()
    if ARGS.pg:
        pg_admin(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
