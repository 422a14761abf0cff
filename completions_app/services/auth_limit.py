"""Failed client-key attempts per source address: past AUTH_FAILURES_PER_MINUTE in a
minute, that address's unknown keys get 429 with Retry-After instead of a database
lookup. Keys already known to be valid (in the auth cache) are still answered.

A lookup is counted as a failure when it starts and forgiven if it finds a key, so a
flood of concurrent requests is bounded too, not only one sent in sequence.

Per process (each `serve` worker and replica counts on its own: N per process is
the bound), in fixed one-minute windows, for at most AUTH_LIMIT_ADDRESSES addresses
(the least recently failing are forgotten first).
"""

from __future__ import annotations

import time
from collections import OrderedDict

from providers_app.errors import GatewayError

AUTH_LIMIT_WINDOW_S = 60.0
AUTH_LIMIT_ADDRESSES = 100_000


class FailedAuthLimit:
    def __init__(self, per_minute: int, *, max_addresses: int = AUTH_LIMIT_ADDRESSES) -> None:
        self.per_minute = per_minute  # 0: no limit
        self.max_addresses = max_addresses
        self._windows: OrderedDict[str, list[float]] = OrderedDict()  # address -> [window start, failures]

    def retry_after(self, address: str) -> float | None:
        """Seconds until this address may try unknown keys again; None when it may now."""
        if self.per_minute <= 0:
            return None
        window = self._windows.get(address)
        if window is None:
            return None
        left = window[0] + AUTH_LIMIT_WINDOW_S - time.monotonic()
        if left <= 0:
            del self._windows[address]
            return None
        return left if window[1] >= self.per_minute else None

    def failed(self, address: str) -> None:
        if self.per_minute <= 0:
            return
        now = time.monotonic()
        window = self._windows.get(address)
        if window is None or window[0] + AUTH_LIMIT_WINDOW_S <= now:
            self._windows[address] = [now, 1]
        else:
            window[1] += 1
        self._windows.move_to_end(address)
        while len(self._windows) > self.max_addresses:
            self._windows.popitem(last=False)

    def forgive(self, address: str) -> None:
        """Take back one failure: a lookup counted in advance found a valid key."""
        window = self._windows.get(address)
        if window is not None and window[1] > 0:
            window[1] -= 1

    def clear(self) -> None:
        self._windows.clear()


class TooManyAuthFailures(GatewayError):
    """Too many failed client keys from one address: wait (Retry-After) before trying more."""

    code = "rate_limit_error"
    http_status = 429
    grpc_status = "RESOURCE_EXHAUSTED"
    default_message = "Too many failed authentication attempts from this address; retry later."
