"""The response cache: deterministic requests only, keyed by a SHA-256 of a
canonical encoding of everything that shapes the output, and of the client key
that asked: one client is never served (nor learns of) another's prompt,
unless an admin marked the model's cache as shared (Model.cache_shared).

Backend: the shared state it is given (gateway_state.py): Redis when
configured (shared by replicas), else an in-process LRU. A Redis failure is a
miss, never an error: the cache is bypassed while Redis is down.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any

from django.conf import settings

from providers_app.adapters.types import Message, Usage

from .answer import Piece
from .shared_state import SharedState, StateUnavailable
from .types import CompletionInput, EmbeddingInput

KEY_VERSION = 2  # 2: scoped per client key; entries of version 1 were shared by all
LOCAL_MAX_ENTRIES = 10_000


def cacheable(inp: CompletionInput) -> bool:
    """Only temperature-0 requests are deterministic enough to replay."""
    return inp.cache and inp.temperature is not None and inp.temperature == 0


def cache_key(inp: CompletionInput, *, client_id: int, shared: bool = False) -> str:
    """SHA-256 over sorted-key JSON: no two different requests can collide by
    concatenation, and field order in the request does not matter. The client
    key's id is part of it unless the model's cache is `shared`; single flight
    uses the same key, so a client never waits on another's flight either."""
    canonical = {
        "v": KEY_VERSION,
        "client": None if shared else client_id,
        "model": inp.model,
        "messages": [_message(m) for m in inp.messages],
        "max_tokens": inp.max_tokens,
        "temperature": inp.temperature,
        "top_p": inp.top_p,
        "stop": list(inp.stop),
    }
    if inp.options is not None:  # tools, response_format, seed, n, logprobs...: all shape the answer
        canonical["options"] = asdict(inp.options)
    blob = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


def _message(m: Message) -> list[Any]:
    if not (m.parts or m.tool_calls or m.tool_call_id is not None or m.name is not None):
        return [m.role, m.content]
    return [m.role, m.content, asdict(m)]


def embedding_cache_key(inp: EmbeddingInput, *, client_id: int, shared: bool = False) -> str:
    """As cache_key, for embeddings (deterministic: every request is cacheable unless the
    client says no): the model, the inputs, dimensions and encoding, and the client key
    unless the model's cache is shared. Its own "kind", so it never equals a chat key."""
    canonical = {
        "v": KEY_VERSION,
        "kind": "embeddings",
        "client": None if shared else client_id,
        "model": inp.model,
        "inputs": list(inp.inputs),
        "dimensions": inp.dimensions,
        "encoding_format": inp.encoding_format or "float",
    }
    blob = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


@dataclass(slots=True)
class CachedEmbeddings:
    """Embeddings as cached: the vectors (in the client's encoding) and the original call."""

    vectors: list[list[float] | str]
    usage: Usage
    served_model: str
    provider: str
    cost_usd: str  # what the original call cost: the saving of every hit

    def dumps(self) -> str:
        return json.dumps(
            {
                "vectors": self.vectors,
                "usage": asdict(self.usage),
                "served_model": self.served_model,
                "provider": self.provider,
                "cost_usd": self.cost_usd,
            },
            separators=(",", ":"),
        )

    @classmethod
    def loads(cls, raw: str | bytes) -> CachedEmbeddings:
        data = json.loads(raw)
        data["usage"] = Usage(**data["usage"])
        return cls(**data)


@dataclass(slots=True)
class CachedAnswer:
    text: str  # choice 0's
    chunks: list[Piece]  # as streamed (answer.py), so a hit can replay a stream
    finish_reason: str | None
    usage: Usage
    served_model: str
    provider: str
    cost_usd: str  # what the original call cost: the saving of every hit
    stop_sequence: str | None = None  # which stop sequence ended choice 0 (entries before it: None)

    def dumps(self) -> str:
        data = asdict(self)
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def loads(cls, raw: str | bytes) -> CachedAnswer:
        data = json.loads(raw)
        data["usage"] = Usage(**data["usage"])
        return cls(**data)


class ResponseCache:
    def __init__(self, store: SharedState) -> None:
        self._store = store

    async def get(self, key: str) -> CachedAnswer | None:
        try:
            raw = await self._store.get(f"resp:{key}")
        except StateUnavailable:
            return None
        return CachedAnswer.loads(raw) if raw else None

    async def set(self, key: str, answer: CachedAnswer) -> None:
        try:
            await self._store.set(f"resp:{key}", answer.dumps(), ttl_s=settings.CACHE_TTL)
        except StateUnavailable:
            pass

    # Embeddings: the same store and TTL, under their own prefix.
    async def get_embeddings(self, key: str) -> CachedEmbeddings | None:
        try:
            raw = await self._store.get(f"emb:{key}")
        except StateUnavailable:
            return None
        return CachedEmbeddings.loads(raw) if raw else None

    async def set_embeddings(self, key: str, answer: CachedEmbeddings) -> None:
        try:
            await self._store.set(f"emb:{key}", answer.dumps(), ttl_s=settings.CACHE_TTL)
        except StateUnavailable:
            pass
