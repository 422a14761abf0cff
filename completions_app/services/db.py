"""Running ORM work off the event loop.

Each call runs in a worker thread and gives its connection back when done:
with PostgreSQL's pool a thread that kept its connection would starve the
pool; with SQLite reopening is cheap.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from asgiref.sync import sync_to_async
from django.db import connection

T = TypeVar("T")


def _closing(fn: Callable[[], T]) -> T:
    try:
        return fn()
    finally:
        connection.close()


async def db_run(fn: Callable[[], T]) -> T:
    return await sync_to_async(_closing, thread_sensitive=False)(fn)
