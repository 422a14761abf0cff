"""What a fake upstream does next (scripted behaviours) and what it saw (request log, stats).

Shared by every provider fake. A `FakeState` is touched by the server's event loop and,
when the fake runs in a background thread, by the test's thread: a lock guards it.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

# Kinds of behaviour. "ok" answers normally (after `delay_s`, which is how a slow first
# byte / hang is scripted); the others are faults.
KINDS = ("ok", "error", "malformed", "wrong_shape", "disconnect", "close", "stream_error")


@dataclass
class Behaviour:
    kind: str = "ok"
    status: int = 200  # for kind="error"
    error_type: str | None = None  # provider error type; None = the provider's usual one for `status`
    message: str | None = None  # provider error message; None = a generic one
    headers: dict[str, str] = field(default_factory=dict)  # extra response headers (e.g. Retry-After)
    delay_s: float = 0.0  # sleep before the first byte
    after_frames: int = 3  # stream faults (disconnect / stream_error / malformed) happen after this many frames
    chunks: int | None = None  # text chunks for this answer; None = the server's default
    chunk_delay_s: float | None = None  # pause between stream frames; None = the server's default
    cache_read: int = 0  # cache tokens to report in usage (providers that have them)
    cache_write: int = 0
    cache_write_1h: int = 0  # of cache_write, those written for 1 hour (Anthropic's cache_creation split)
    path: str | None = None  # only requests whose path starts with this consume the behaviour
    times: int = 1  # how many requests it applies to; -1 = until reset

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown behaviour kind {self.kind!r}; expected one of {KINDS}")

    # Named constructors read better in tests than a bag of kwargs.
    @classmethod
    def ok(cls, **kw: Any) -> Behaviour:
        return cls(kind="ok", **kw)

    @classmethod
    def error(cls, status: int, **kw: Any) -> Behaviour:
        return cls(kind="error", status=status, **kw)

    @classmethod
    def rate_limited(cls, retry_after: str | None = "7", *, retry_after_ms: str | None = None, **kw: Any) -> Behaviour:
        headers = dict(kw.pop("headers", {}))
        if retry_after is not None:
            headers["Retry-After"] = retry_after
        if retry_after_ms is not None:
            headers["retry-after-ms"] = retry_after_ms
        return cls(kind="error", status=429, headers=headers, **kw)

    @classmethod
    def overloaded(cls, **kw: Any) -> Behaviour:
        """Anthropic's 529 with an `overloaded_error` body."""
        return cls(kind="error", status=529, error_type="overloaded_error", message="Overloaded", **kw)

    @classmethod
    def hang(cls, seconds: float, **kw: Any) -> Behaviour:
        return cls(kind="ok", delay_s=seconds, **kw)

    @classmethod
    def malformed(cls, **kw: Any) -> Behaviour:
        return cls(kind="malformed", **kw)

    @classmethod
    def disconnect(cls, after_frames: int = 3, **kw: Any) -> Behaviour:
        """Stream a few frames, then drop the connection mid-body."""
        return cls(kind="disconnect", after_frames=after_frames, **kw)

    @classmethod
    def close(cls, **kw: Any) -> Behaviour:
        """Drop the connection before sending anything."""
        return cls(kind="close", **kw)

    @classmethod
    def stream_error(cls, error_type: str | None = None, after_frames: int = 3, **kw: Any) -> Behaviour:
        """An in-band error event in the middle of a 200 stream."""
        return cls(kind="stream_error", error_type=error_type, after_frames=after_frames, **kw)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Behaviour:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown behaviour fields: {sorted(unknown)}")
        return cls(**data)


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    json: Any  # the decoded body, or None
    raw: str  # the body as text (for bodies that are not JSON)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class FakeConfig:
    latency_s: float = 0.0  # before the first byte of every answer
    chunks: int = 3  # text chunks per streamed answer
    chunk_delay_s: float = 0.0  # between stream frames
    model_names: tuple[str, ...] = ("fake-small", "fake-large")


class FakeState:
    """Behaviour queue, request log and counters of one fake server."""

    def __init__(self, config: FakeConfig | None = None) -> None:
        self.config = config or FakeConfig()
        self._lock = threading.Lock()
        self._queue: list[Behaviour] = []
        self._requests: list[RecordedRequest] = []
        self._stats = {"requests": 0, "disconnects": 0, "streams_completed": 0}

    def script(self, *behaviours: Behaviour) -> None:
        """Queue behaviours; each request consumes the first one whose `path` matches."""
        with self._lock:
            # Copies: the queue counts `times` down, and a test may queue one object twice.
            self._queue.extend(replace(b, headers=dict(b.headers)) for b in behaviours)

    def next_behaviour(self, path: str) -> Behaviour:
        with self._lock:
            for i, b in enumerate(self._queue):
                if b.path is None or path.startswith(b.path):
                    if b.times >= 0:  # negative = until reset
                        b.times -= 1
                        if b.times <= 0:
                            del self._queue[i]
                    return b
        return Behaviour()

    def record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)
            self._stats["requests"] += 1

    def count(self, stat: str) -> None:
        with self._lock:
            self._stats[stat] += 1

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def stats(self) -> dict[str, int]:
        with self._lock:
            return dict(self._stats)

    def reset(self) -> None:
        with self._lock:
            self._queue.clear()
            self._requests.clear()
            for k in self._stats:
                self._stats[k] = 0
