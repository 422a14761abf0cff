"""The benchmark cases, the request bodies they send, and the targets they are judged by."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import ClassVar

from .procs import MODEL

# 30 words, so the fake can cut a streamed answer into 20 chunks (it echoes the prompt's words).
PROMPT = " ".join(f"word{i}" for i in range(30))


# The tool the tool-call cases offer; the fake calls it with {"q": PROMPT}.
TOOL = {
    "type": "function",
    "function": {
        "name": "lookup",
        "description": "Looks a phrase up.",
        "parameters": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]},
    },
}


@dataclass(frozen=True)
class Case:
    name: str
    title: str
    latency_ms: float  # fake upstream: delay before the first byte
    concurrency: int = 0  # closed loop (wrk): connections in flight
    rate: float = 0.0  # open loop: requests per second offered
    stream: bool = False
    cache: bool = False  # temperature 0, same body: every request after the first is a hit
    long: bool = False  # uses the long duration (the 500 req/s case)
    workers: int = 1  # `serve --workers N`; with 2 the gateway may use both cores (not pinned)
    tools: bool = False  # offers a tool: the fake answers a tool call (streamed: 20 argument deltas)
    redis: bool = False  # the gateway runs with REDIS_URL (procs.BENCH_REDIS_URL, flushed at start)
    limited: bool = False  # the client key has limits (procs.NEVER_REACHED): admit + settle per request

    # Where the body is posted (direct and through the gateway), and the models the gateway
    # needs beyond fake_config()'s: EmbedCase overrides both.
    path: ClassVar[str] = "/v1/chat/completions"
    extra_models: ClassVar[tuple[dict[str, str], ...]] = ()

    @property
    def open_loop(self) -> bool:
        return self.rate > 0

    def body(self) -> bytes:
        """Same body direct and through the gateway (OpenAI chat completions)."""
        data: dict[str, object] = {
            "model": MODEL,
            "messages": [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": PROMPT}],
            "max_tokens": 64,
            # Not 0: only temperature-0 requests are cached, and only the cache case wants hits.
            "temperature": 0 if self.cache else 0.7,
        }
        if self.tools:
            data["tools"] = [TOOL]
        if self.stream:
            data["stream"] = True
            data["stream_options"] = {"include_usage": True}
        return json.dumps(data).encode()


# --- issue 16: embeddings ---------------------------------------------------------------------
EMBED_MODEL = "text-embedding-3-small"  # an embedding model on the openai-kind provider "oa"
# 16 texts of ~30 words, as a retrieval pipeline sends a batch of chunks.
EMBED_TEXTS = [f"chunk {i}: " + PROMPT for i in range(16)]


@dataclass(frozen=True)
class EmbedCase(Case):
    """A batch of texts to /v1/embeddings (direct: the fake's), as the openai SDK sends it:
    `encoding_format: base64` unless told otherwise."""

    path: ClassVar[str] = "/v1/embeddings"
    extra_models: ClassVar[tuple[dict[str, str], ...]] = (
        {"name": EMBED_MODEL, "provider": "oa", "upstream_model": EMBED_MODEL, "mode": "embedding",
         "input_per_mtok": "0.02", "output_per_mtok": "0"},
    )  # fmt: skip

    def body(self) -> bytes:
        # 1536 dimensions: text-embedding-3-small's own (the fake's default is 8).
        data: dict[str, object] = {
            "model": EMBED_MODEL,
            "input": EMBED_TEXTS,
            "dimensions": 1536,
            "encoding_format": "base64",
        }
        if not self.cache:
            data["cache"] = False  # embeddings are cached by default: every request must reach upstream
        return json.dumps(data).encode()


@dataclass(frozen=True)
class MessagesCase(Case):
    """c16 / stream16's request in Anthropic's Messages shape, to POST /v1/messages (direct: the
    fake's own /v1/messages). Same model as c16 (the openai-kind "oa"), so the difference to c16
    is the route: its parsing, translation and Anthropic-shaped answer."""

    path: ClassVar[str] = "/v1/messages"

    def body(self) -> bytes:
        data: dict[str, object] = {
            "model": MODEL,
            "system": "Answer briefly.",
            "messages": [{"role": "user", "content": PROMPT}],
            "max_tokens": 64,
            "temperature": 0.7,
        }
        if self.stream:
            data["stream"] = True
        return json.dumps(data).encode()


CASES: tuple[Case, ...] = (
    Case("c1", "0 ms upstream, concurrency 1", latency_ms=0, concurrency=1),
    Case("c16", "0 ms upstream, concurrency 16", latency_ms=0, concurrency=16),
    Case("c64", "0 ms upstream, concurrency 64", latency_ms=0, concurrency=64),
    Case("c512_200ms", "200 ms upstream, 512 in flight", latency_ms=200, concurrency=512),
    Case("stream16", "streaming, 20 chunks, 0 ms upstream, concurrency 16", latency_ms=0, concurrency=16, stream=True),
    Case("tools16", "tool call, 0 ms upstream, concurrency 16", latency_ms=0, concurrency=16, tools=True),
    Case(
        "toolstream16",
        "streamed tool call, 20 argument deltas, 0 ms upstream, concurrency 16",
        latency_ms=0,
        concurrency=16,
        stream=True,
        tools=True,
    ),
    # The limiter's cost is the difference of these two, in the same run, both on Redis (the
    # response cache too; temperature 0.7 misses it, as in c16).
    Case("unlimited16_redis", "unlimited key, Redis, concurrency 16", latency_ms=0, concurrency=16, redis=True),
    Case(
        "limited16",
        "limited key (rpm, tpm, budget, never reached), Redis, concurrency 16",
        latency_ms=0,
        concurrency=16,
        redis=True,
        limited=True,
    ),
    Case("cache64", "cache hits (temperature 0, same body), concurrency 64", latency_ms=0, concurrency=64, cache=True),
    Case("rate500_1500ms", "1.5 s upstream, 500 req/s offered (open loop)", latency_ms=1500, rate=500, long=True),
    # The two load cases again with `serve --workers 2`: what the whole machine serves. The
    # gateway is not pinned, so it shares the second core with the load generator and the fake.
    Case("c512_200ms_w2", "200 ms upstream, 512 in flight, 2 workers", latency_ms=200, concurrency=512, workers=2),
    Case(
        "rate500_1500ms_w2",
        "1.5 s upstream, 500 req/s offered (open loop), 2 workers",
        latency_ms=1500,
        rate=500,
        long=True,
        workers=2,
    ),
    # Issue 16: /v1/messages beside c16 / stream16 (the same request in Anthropic's shape).
    MessagesCase("messages16", "/v1/messages, 0 ms upstream, concurrency 16", latency_ms=0, concurrency=16),
    MessagesCase(
        "messagesstream16",
        "/v1/messages streamed, 20 chunks, 0 ms upstream, concurrency 16",
        latency_ms=0,
        concurrency=16,
        stream=True,
    ),
    # Issue 16: a 16-text batch of embeddings, cache off (every request reaches the fake).
    EmbedCase(
        "embed16",
        "embeddings, 16 texts x 1536 dimensions (base64), 0 ms upstream, concurrency 16",
        latency_ms=0,
        concurrency=16,
    ),
)
CASES_BY_NAME = {c.name: c for c in CASES}
FAKE_CHUNKS = 20

# Targets from issue 7, on this 2-core machine.
TARGET_CPU_MS = 3.0  # per non-streamed request
TARGET_CPU_MS_STREAM = 6.0  # per 20-chunk stream
# From issue 13: tool calls.
TARGET_CPU_MS_TOOLS = 1.0  # per non-streamed tool-call request
TARGET_CPU_MS_TOOL_STREAM = 2.0  # per streamed tool call of 20 argument deltas
# From issue 15: a limited key's admit + settle, on Redis.
TARGET_LIMIT_CPU_MS = 0.15  # limited16 - unlimited16_redis
TARGET_LIMIT_ROUND_TRIPS = 2.0  # per request: one reserve, one reconcile
TARGET_ADDED_P50_MS = 3.0  # at concurrency 1
TARGET_P99_MS_512 = 600.0  # 512 in flight on a 200 ms upstream, zero errors
TARGET_RSS_MB = 150.0
TARGET_SUCCESS_500 = 100.0  # percent, 1.5 s upstream at 500 req/s
# From issue 16: embeddings.
TARGET_CPU_MS_EMBED = 1.0  # per /v1/embeddings request of 16 texts
TARGET_MESSAGES_RATIO = 1.2  # /v1/messages CPU per request within 20 % of /v1/chat/completions


@dataclass(frozen=True)
class Plan:
    seconds: float  # measured window per run
    long_seconds: float  # the 500 req/s case
    warmup_s: float
    reps: int  # gateway and direct runs per case (medians reported)
    long_reps: int
    profile_s: float

    @classmethod
    def quick(cls) -> Plan:
        return cls(seconds=10, long_seconds=15, warmup_s=2, reps=1, long_reps=1, profile_s=10)

    @classmethod
    def full(cls) -> Plan:
        return cls(seconds=12, long_seconds=60, warmup_s=2, reps=3, long_reps=2, profile_s=20)
