"""Identical deterministic requests in flight at once reach the upstream once.

Identical means the same response-cache key, which includes the client key
unless the model's cache is shared: a client never waits on another's flight.

The first caller (the leader) does the work; the others wait for its answer.
If the leader is cancelled (its client went away) the waiters are woken with
LeaderGone and one of them leads instead. Per process: across replicas the
shared cache catches the next identical request.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from .response_cache import CachedAnswer


class LeaderGone(Exception):
    pass


class Flight:
    def __init__(self) -> None:
        self.future: asyncio.Future[CachedAnswer] = asyncio.get_running_loop().create_future()

    def resolve(self, answer: CachedAnswer) -> None:
        if not self.future.done():
            self.future.set_result(answer)

    def fail(self, exc: BaseException) -> None:
        if not self.future.done():
            self.future.set_exception(exc)
            self.future.exception()  # mark retrieved: no "never retrieved" warning without waiters


class SingleFlight:
    def __init__(self) -> None:
        self._flights: dict[str, Flight] = {}

    def follower_of(self, key: str) -> Flight | None:
        return self._flights.get(key)

    @asynccontextmanager
    async def lead(self, key: str) -> AsyncIterator[Flight]:
        flight = self._flights[key] = Flight()
        try:
            yield flight
        except asyncio.CancelledError:
            flight.fail(LeaderGone())
            raise
        except GeneratorExit:
            flight.fail(LeaderGone())
            raise
        except BaseException as exc:
            flight.fail(exc)
            raise
        finally:
            flight.fail(LeaderGone())  # a leader that ended without an answer
            if self._flights.get(key) is flight:
                del self._flights[key]
