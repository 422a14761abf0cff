"""One pybreaker circuit breaker per provider, made safe for asyncio.

pybreaker has no asyncio support (STACK-NOTES.md): `call(async_fn)` counts an
un-awaited coroutine as a success, and half-open lets every concurrent caller
through. So the upstream call is awaited *outside* pybreaker, and its outcome
is fed back through `breaker.call()` with a function that returns or raises at
once: pybreaker keeps the counting and the state transitions, we keep the
awaiting. Half-open admits exactly one trial: a flag in this process and, with
Redis, `SET NX` shared by every replica.

State lives in Redis when configured (SharedStorage), so every replica sees
the same breaker; when Redis is down it falls back to this process's memory.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

import pybreaker
from django.conf import settings

from aiproxy.errors import CircuitOpen, GatewayError
from metrics_app import metrics

from .redis_state import PREFIX, RedisUnavailable, redis_call_sync

STATE_VALUE = {pybreaker.STATE_CLOSED: 0, pybreaker.STATE_HALF_OPEN: 1, pybreaker.STATE_OPEN: 2}


class SharedStorage(pybreaker.CircuitBreakerStorage):
    """pybreaker storage in Redis with an in-process fallback (and mirror)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self._local = pybreaker.CircuitMemoryStorage(pybreaker.STATE_CLOSED)
        self._ns = f"{PREFIX}cb:{name}:"

    def _get(self, field: str, local: object) -> object:
        try:
            value = redis_call_sync(lambda r: r.get(self._ns + field))
        except RedisUnavailable:
            return local
        return local if value is None else value.decode()

    def _set(self, field: str, value: object) -> None:
        try:
            redis_call_sync(lambda r: r.set(self._ns + field, str(value)))
        except RedisUnavailable:
            pass

    def _incr(self, field: str) -> None:
        try:
            redis_call_sync(lambda r: r.incr(self._ns + field))
        except RedisUnavailable:
            pass

    @property
    def state(self) -> str:
        return str(self._get("state", self._local.state))

    @state.setter
    def state(self, state: str) -> None:
        self._local.state = state
        self._set("state", state)

    def increment_counter(self) -> None:
        self._local.increment_counter()
        self._incr("fail_counter")

    def reset_counter(self) -> None:
        self._local.reset_counter()
        self._set("fail_counter", 0)

    def increment_success_counter(self) -> None:
        self._local.increment_success_counter()
        self._incr("success_counter")

    def reset_success_counter(self) -> None:
        self._local.reset_success_counter()
        self._set("success_counter", 0)

    @property
    def counter(self) -> int:
        return int(self._get("fail_counter", self._local.counter))  # type: ignore[call-overload]

    @property
    def success_counter(self) -> int:
        return int(self._get("success_counter", self._local.success_counter))  # type: ignore[call-overload]

    @property
    def opened_at(self) -> datetime | None:
        value = self._get("opened_at", None)
        if value is None:
            return self._local.opened_at
        return datetime.fromtimestamp(float(value), tz=UTC)  # type: ignore[arg-type]

    @opened_at.setter
    def opened_at(self, when: datetime) -> None:
        self._local.opened_at = when
        self._set("opened_at", when.timestamp())


class _MetricListener(pybreaker.CircuitBreakerListener):
    def state_change(self, cb: pybreaker.CircuitBreaker, old_state: object, new_state: object) -> None:
        metrics.circuit_breaker_state.labels(provider=cb.name).set(STATE_VALUE[new_state.name])  # type: ignore[attr-defined]


class _Outcome(Exception):
    """Carries an upstream fault into pybreaker's accounting."""


def _raise(exc: BaseException) -> None:
    raise exc


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
    def __init__(self, name: str, *, fail_max: int, reset_timeout: float, trial_ttl_s: float) -> None:
        self.name = name
        self._storage = SharedStorage(name)
        self.cb = pybreaker.CircuitBreaker(
            fail_max=fail_max,
            reset_timeout=reset_timeout,
            state_storage=self._storage,
            name=name,
            listeners=[_MetricListener()],
            throw_new_error_on_trip=False,
        )
        self._trial_ttl_s = trial_ttl_s
        self._local_trial = False
        metrics.circuit_breaker_state.labels(provider=name).set(STATE_VALUE.get(self.state, 0))

    @property
    def state(self) -> str:
        return self.cb.current_state

    @property
    def failures(self) -> int:
        return self.cb.fail_counter

    def admit(self) -> Ticket:
        """A ticket for one call, or CircuitOpen without touching the upstream."""
        state = self.cb.current_state
        if state == pybreaker.STATE_CLOSED:
            return Ticket(self, trial=False)
        if state == pybreaker.STATE_OPEN:
            opened = self._storage.opened_at
            if opened and time.time() < opened.timestamp() + self.cb.reset_timeout:
                raise CircuitOpen(f"Provider {self.name}: circuit breaker open.")
        if not self._trial_acquire():
            raise CircuitOpen(f"Provider {self.name}: circuit breaker half-open, trial request in flight.")
        if state == pybreaker.STATE_OPEN:
            self.cb.half_open()
        return Ticket(self, trial=True)

    def _trial_acquire(self) -> bool:
        if self._local_trial:
            return False
        try:
            got = redis_call_sync(
                lambda r: r.set(f"{PREFIX}cb:{self.name}:trial", "1", nx=True, px=int(self._trial_ttl_s * 1000))
            )
            if not got:
                return False
        except RedisUnavailable:
            pass
        self._local_trial = True
        return True

    def trial_release(self) -> None:
        self._local_trial = False
        try:
            redis_call_sync(lambda r: r.delete(f"{PREFIX}cb:{self.name}:trial"))
        except RedisUnavailable:
            pass

    def record(self, exc: BaseException | None, *, trial: bool) -> None:
        fault = exc is not None and (not isinstance(exc, GatewayError) or exc.breaker_fault)
        try:
            if fault:
                self.cb.call(_raise, _Outcome(str(exc)))
            else:
                self.cb.call(lambda: None)
        except (_Outcome, pybreaker.CircuitBreakerError):
            pass
        finally:
            if trial:
                self.trial_release()


class BreakerBoard:
    """The breakers of this process, one per provider name."""

    def __init__(self) -> None:
        self._breakers: dict[str, ProviderBreaker] = {}

    def get(self, name: str, *, timeout_s: float = 60) -> ProviderBreaker:
        breaker = self._breakers.get(name)
        if breaker is None:
            breaker = self._breakers[name] = ProviderBreaker(
                name,
                fail_max=settings.CIRCUIT_BREAKER_MAX_REQUESTS,
                reset_timeout=settings.CIRCUIT_BREAKER_TIMEOUT,
                # A trial that never reports (a crashed replica) frees its slot after this.
                trial_ttl_s=timeout_s + 5,
            )
        return breaker

    def reset(self) -> None:
        self._breakers.clear()


board = BreakerBoard()
