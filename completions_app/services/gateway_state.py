"""The gateway's process state, created once: the shared-state backend and the
pieces that use it.

The backend is chosen here and nowhere else: Redis when REDIS_URL is
configured (redis_state.RedisState, shared by every replica), this process's
memory otherwise (shared_state.LocalState). The pieces are handed what they
need: the breaker board reads and writes the backend itself (its pybreaker
snapshot is its in-process fallback), the keyring goes through
`Fallback(redis, memory)` so rotation and cooldowns carry on while Redis is
down, the response cache uses the backend directly (a Redis failure is a
miss), the limiter (budgets and rate limits, limits.py) runs its Lua scripts
through the backend and answers from this process while Redis is down.
Single flight, the auth cache and the upstream client pool are per process
whatever the backend.

`serve` gets its state on first use and closes it at shutdown
(`gateway_state_close`); tests install a fresh one per test
(tests/conftest.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from providers_app.adapters.registry import ClientPool

from .auth_cache import AuthCache
from .breakers import BreakerBoard
from .keyring import Keyring
from .limit_types import Limiter
from .limits import limiter_create
from .redis_state import RedisState
from .response_cache import ResponseCache
from .shared_state import Fallback, LocalState, SharedState
from .singleflight import SingleFlight

LOCAL_CACHE_ENTRIES = 10_000  # the in-process response cache is an LRU of this many answers


@dataclass(eq=False)
class GatewayState:
    shared: SharedState  # the backend: Redis or this process's memory
    board: BreakerBoard
    keyring: Keyring
    cache: ResponseCache
    flights: SingleFlight
    auth: AuthCache
    pool: ClientPool
    limiter: Limiter  # budgets and rate limits: Redis (exact, per-process fallback) or this process

    @classmethod
    def create(
        cls, redis_url: str = "", *, redis_timeout_s: float = 0.25, default_max_tokens: int | None = None
    ) -> GatewayState:
        if redis_url:
            shared: SharedState = RedisState(redis_url, timeout_s=redis_timeout_s)
            rotation: SharedState = Fallback(shared, LocalState())
            answers = shared
        else:
            shared = rotation = LocalState()
            answers = LocalState(max_entries=LOCAL_CACHE_ENTRIES)
        return cls(
            shared=shared,
            board=BreakerBoard(shared),
            keyring=Keyring(rotation),
            cache=ResponseCache(answers),
            flights=SingleFlight(),
            auth=AuthCache(),
            pool=ClientPool(default_max_tokens=default_max_tokens),
            limiter=limiter_create(shared),
        )

    async def aclose(self) -> None:
        """Breaker writes landed, upstream clients and the backend closed."""
        await self.board.settle()
        await self.pool.aclose_all()
        await self.limiter.aclose()
        await self.shared.aclose()


_current: GatewayState | None = None


def gateway_state() -> GatewayState:
    """This process's state, created from the settings on first use."""
    global _current
    if _current is None:
        _current = GatewayState.create(
            settings.REDIS_URL, redis_timeout_s=settings.REDIS_TIMEOUT_S, default_max_tokens=settings.DEFAULT_MAX_TOKENS
        )
    return _current


def gateway_state_install(state: GatewayState | None) -> GatewayState | None:
    """Replace this process's state (tests: a fresh one per test); returns the previous one."""
    global _current
    previous, _current = _current, state
    return previous


async def gateway_state_close() -> None:
    """At shutdown: close this process's state; a later use creates a new one."""
    state = gateway_state_install(None)
    if state is not None:
        await state.aclose()
