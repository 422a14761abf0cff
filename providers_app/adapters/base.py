"""The provider interface: four methods, one per thing the gateway needs."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from typing import ClassVar

from .types import ChatRequest, Completion, StreamChunk


class ProviderAdapter(ABC):
    """One instance per provider key: it owns one SDK client (one connection pool).

    Implementations translate ChatRequest -> provider call and provider answer ->
    Completion / StreamChunk, and raise only aiproxy.errors.UpstreamError
    subclasses (classified at this boundary; nothing else escapes).
    """

    kind: ClassVar[str]

    def __init__(self, *, base_url: str | None, api_key: str | None, timeout_s: float) -> None:
        self.base_url = base_url
        self.timeout_s = timeout_s

    @abstractmethod
    async def complete(self, request: ChatRequest) -> Completion: ...

    @abstractmethod
    def stream(self, request: ChatRequest) -> AsyncIterator[StreamChunk]:
        """Async iterator of chunks; the last one carries usage and finish_reason."""

    @abstractmethod
    async def list_models(self) -> list[str]:
        """A cheap authenticated call, used by provider probes."""

    @abstractmethod
    async def aclose(self) -> None: ...

    async def warm(self) -> None:  # noqa: B027 - optional: most adapters have nothing to prepare
        """Prepare what the first call would otherwise wait for."""
