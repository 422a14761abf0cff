"""One pybreaker circuit breaker per provider, made safe for asyncio and shared
by every replica without a network round trip on the closed path.

pybreaker 1.4 has no asyncio support: `call(async_fn)` counts an
un-awaited coroutine as a success, and half-open lets every concurrent caller
through. So the upstream call is awaited *outside* pybreaker, and its outcome
is fed back through `breaker.call()` with a function that returns or raises at
once: pybreaker keeps the counting and the state transitions, we keep the
awaiting.

pybreaker's storage is this process's snapshot, in memory (its storage
interface is synchronous, so it must not do I/O). The shared state
(shared_state.SharedState: Redis, or memory without it) is written and read
asynchronously beside the requests:

- a success with no failure counted writes nothing; a failure INCRs the shared
  count (and learns whether another replica opened the breaker);
- open and close are written when pybreaker makes them (keys `cb:<name>:open`,
  the opening time, and `cb:<name>:fail`); half-open is not stored: the one
  trial across replicas is the `cb:<name>:trial` key, SET NX with an expiry;
- the snapshot is refreshed from the shared state at most every REFRESH_S, in
  a background task, so a breaker opened by one replica is seen by the others
  within that interval; the first request (or the first after STALE_AWAIT_S of
  quiet) waits for the refresh instead.

When the shared state is unreachable the snapshot simply stays this
process's truth, and the trial gate is this process's flag.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import pybreaker
from django.conf import settings

from completions_app import metrics
from providers_app.errors import CircuitOpen, GatewayError

from .shared_state import SharedState, StateUnavailable

log = logging.getLogger(__name__)

STATE_VALUE = {pybreaker.STATE_CLOSED: 0, pybreaker.STATE_HALF_OPEN: 1, pybreaker.STATE_OPEN: 2}
REFRESH_S = 0.5
STALE_AWAIT_S = 5.0


class _Snapshot(pybreaker.CircuitBreakerStorage):
    """pybreaker's storage: plain fields in this process (pybreaker calls it synchronously)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self._state = pybreaker.STATE_CLOSED
        self.fail_count = 0
        self.success_count = 0
        self.opened: datetime | None = None

    @property
    def state(self) -> str:
        return self._state

    @state.setter
    def state(self, state: str) -> None:
        self._state = state

    def increment_counter(self) -> None:
        self.fail_count += 1

    def reset_counter(self) -> None:
        self.fail_count = 0

    def increment_success_counter(self) -> None:
        self.success_count += 1

    def reset_success_counter(self) -> None:
        self.success_count = 0

    @property
    def counter(self) -> int:
        return self.fail_count

    @property
    def success_counter(self) -> int:
        return self.success_count

    @property
    def opened_at(self) -> datetime | None:
        return self.opened

    @opened_at.setter
    def opened_at(self, when: datetime) -> None:
        self.opened = when


class _Listener(pybreaker.CircuitBreakerListener):
    """The state gauge, and the shared writes of this process's own transitions."""

    def __init__(self, breaker: ProviderBreaker) -> None:
        self.breaker = breaker

    def state_change(self, cb: pybreaker.CircuitBreaker, old_state: object, new_state: object) -> None:
        name = new_state.name  # type: ignore[attr-defined]
        metrics.circuit_breaker_state.labels(provider=cb.name).set(STATE_VALUE[name])
        self.breaker.transitioned(name)


class _Outcome(Exception):
    """Carries an upstream fault into pybreaker's accounting."""


def _raise(exc: BaseException) -> None:
    raise exc


def _succeed() -> None:
    return None


@dataclass
class Ticket:
    """Permission for one upstream call; report how it went exactly once."""

    breaker: ProviderBreaker
    trial: bool
    done: bool = False

    def success(self) -> None:
        if not self.done:
            self.done = True
            self.breaker.record(None, trial=self.trial)

    def failure(self, exc: BaseException) -> None:
        if not self.done:
            self.done = True
            self.breaker.record(exc, trial=self.trial)

    def release(self) -> None:
        """Neither success nor failure (the client went away): free a trial slot."""
        if not self.done:
            self.done = True
            if self.trial:
                self.breaker.trial_release()


class ProviderBreaker:
    def __init__(
        self, name: str, *, state: SharedState, fail_max: int, reset_timeout: float, trial_ttl_s: float
    ) -> None:
        self.name = name
        self._shared = state
        self._fail_key, self._open_key, self._trial_key = f"cb:{name}:fail", f"cb:{name}:open", f"cb:{name}:trial"
        self._store = _Snapshot(name)
        self.cb = pybreaker.CircuitBreaker(
            fail_max=fail_max,
            reset_timeout=reset_timeout,
            state_storage=self._store,
            name=name,
            listeners=[_Listener(self)],
            throw_new_error_on_trip=False,
        )
        self._trial_ttl_s = trial_ttl_s
        self._local_trial = False  # this process's trial in flight (and the gate while Redis is down)
        self._applying_shared = False  # a transition learnt from the shared state is not written back
        self._version = 0  # bumped by every local outcome: a refresh read before it is stale
        self._tail: asyncio.Task[None] | None = None  # the last shared write; writes run in order
        self._refresh_task: asyncio.Task[None] | None = None
        self._refresh_waited = False
        self._refreshed_at = -float("inf")
        metrics.circuit_breaker_state.labels(provider=name).set(0)

    @property
    def state(self) -> str:
        return self._store.state

    @property
    def failures(self) -> int:
        return self._store.fail_count

    # --- admission ------------------------------------------------------------------------
    async def admit(self) -> Ticket:
        """A ticket for one call, or CircuitOpen without touching the upstream."""
        await self._keep_fresh()
        state = self._store.state
        if state == pybreaker.STATE_CLOSED:
            return Ticket(self, trial=False)
        if state == pybreaker.STATE_OPEN:
            opened = self._store.opened
            if opened and (wait := opened.timestamp() + self.cb.reset_timeout - time.time()) > 0:
                raise CircuitOpen(f"Provider {self.name}: circuit breaker open.", retry_after=wait)
        if not await self._trial_acquire():
            # The trial's answer decides within the provider's timeout; ask again soon.
            raise CircuitOpen(
                f"Provider {self.name}: circuit breaker half-open, trial request in flight.", retry_after=1.0
            )
        state = self._store.state  # it may have changed while we waited
        if state == pybreaker.STATE_CLOSED:
            self.trial_release()
            return Ticket(self, trial=False)
        if state == pybreaker.STATE_OPEN:
            self.cb.half_open()
        return Ticket(self, trial=True)

    async def _trial_acquire(self) -> bool:
        if self._local_trial:
            return False
        self._local_trial = True  # before the await: this process's other callers stop here
        try:
            got = await self._shared.set(self._trial_key, "1", ttl_s=self._trial_ttl_s, nx=True)
        except StateUnavailable:
            got = True  # only this process's flag gates the trial now
        except BaseException:
            # Cancelled mid-call: whether the slot is ours is unknown, so it is left
            # to expire (trial_ttl_s) rather than deleted from under another replica.
            self._local_trial = False
            raise
        if not got:
            self._local_trial = False
        return got

    def trial_release(self) -> None:
        self._local_trial = False
        self._write(lambda: self._shared.delete(self._trial_key))

    # --- outcomes -------------------------------------------------------------------------
    def record(self, exc: BaseException | None, *, trial: bool) -> None:
        fault = exc is not None and (not isinstance(exc, GatewayError) or exc.breaker_fault)
        state = self._store.state
        # Outcomes count while closed, and a trial's in half-open; a call admitted
        # before another one opened the breaker says nothing the trial will not.
        if state == pybreaker.STATE_CLOSED or (trial and state == pybreaker.STATE_HALF_OPEN):
            self._version += 1
            had_failures = self._store.fail_count > 0
            try:
                if fault:
                    self.cb.call(_raise, _Outcome(str(exc)))
                else:
                    self.cb.call(_succeed)
            except (_Outcome, pybreaker.CircuitBreakerError):
                pass
            if state == pybreaker.STATE_CLOSED and fault:
                version = self._version
                self._write(lambda: self._count_failure(version))
            elif state == pybreaker.STATE_CLOSED and had_failures:
                self._write(lambda: self._shared.delete(self._fail_key))
        if trial:
            self.trial_release()

    def transitioned(self, new_state: str) -> None:
        """pybreaker moved this process's snapshot: write opens and closes to the shared state."""
        if self._applying_shared:
            return
        if new_state == pybreaker.STATE_OPEN:
            opened = self._store.opened or datetime.now(UTC)
            self._write(lambda: self._shared.set(self._open_key, repr(opened.timestamp())))
        elif new_state == pybreaker.STATE_CLOSED:
            self._write(lambda: self._shared.delete(self._open_key, self._fail_key))

    async def _count_failure(self, version: int) -> None:
        count, (opened,) = await self._shared.incr_mget(self._fail_key, [self._open_key])
        if version == self._version:
            self._learn(count, opened)

    # --- the shared state -----------------------------------------------------------------
    def _write(self, op: Callable[[], Awaitable[object]]) -> None:
        previous = self._tail

        async def run() -> None:
            if previous is not None and not previous.done():
                await asyncio.wait([previous])
            try:
                await op()
            except StateUnavailable:
                pass  # this process's snapshot stays the truth here until the shared state is back

        self._tail = asyncio.get_running_loop().create_task(run())

    async def settle(self) -> None:
        """Wait until this process's writes have reached the shared state (tests, shutdown)."""
        while self._tail is not None and not self._tail.done():
            await asyncio.wait([self._tail])

    async def _keep_fresh(self) -> None:
        if not self._shared.distributed:
            return  # nobody else writes it: the snapshot is the state
        running = self._refresh_task
        if running is not None and not running.done():
            if self._refresh_waited:
                await asyncio.shield(running)
            return
        now = time.monotonic()
        if now - self._refreshed_at < REFRESH_S:
            return  # the closed path's usual exit: no I/O
        self._refresh_waited = now - self._refreshed_at > STALE_AWAIT_S
        self._refreshed_at = now
        running = self._refresh_task = asyncio.get_running_loop().create_task(self.refresh())
        if self._refresh_waited:
            await asyncio.shield(running)

    async def refresh(self) -> None:
        """Read the shared state into this process's snapshot (one MGET)."""
        if not self._shared.distributed:
            return  # only this process writes it: the snapshot already says it all
        if self._tail is not None and not self._tail.done():
            return  # our own writes are landing: the next refresh reads them
        version = self._version
        try:
            count, opened = await self._shared.mget([self._fail_key, self._open_key])
        except StateUnavailable:
            return
        if version == self._version and (self._tail is None or self._tail.done()):
            self._learn(int(count or 0), opened, closes=True)

    def _learn(self, count: int, opened: str | None, *, closes: bool = False) -> None:
        state = self._store.state
        if state == pybreaker.STATE_HALF_OPEN and self._local_trial:
            return  # our trial is in flight: its outcome decides
        if opened is not None:
            if state != pybreaker.STATE_OPEN:
                self._shared_transition(self.cb.open)
            self._store.opened = datetime.fromtimestamp(float(opened), tz=UTC)
            return
        if state == pybreaker.STATE_CLOSED:
            self._store.fail_count = count
            if count >= self.cb.fail_max:
                self.cb.open()  # counted across replicas: this one writes the opening
        elif closes:
            self._shared_transition(self.cb.close)  # another replica's trial closed it

    def _shared_transition(self, transition: Callable[[], object]) -> None:
        self._applying_shared = True
        try:
            transition()
        finally:
            self._applying_shared = False


class BreakerBoard:
    """The breakers of this process, one per provider name, on one shared state."""

    def __init__(self, state: SharedState) -> None:
        self._shared = state
        self._breakers: dict[str, ProviderBreaker] = {}

    def get(self, name: str, *, timeout_s: float = 60) -> ProviderBreaker:
        breaker = self._breakers.get(name)
        if breaker is None:
            breaker = self._breakers[name] = ProviderBreaker(
                name,
                state=self._shared,
                fail_max=settings.CIRCUIT_BREAKER_MAX_REQUESTS,
                reset_timeout=settings.CIRCUIT_BREAKER_TIMEOUT,
                # A trial that never reports (a crashed replica) frees its slot after this.
                trial_ttl_s=timeout_s + 5,
            )
        return breaker

    async def settle(self) -> None:
        for breaker in list(self._breakers.values()):
            await breaker.settle()
