"""What the three SDK adapters share: one loop-bound SDK client per adapter,
errors classified with the key scrubbed, and closing."""

from __future__ import annotations

from abc import abstractmethod
from typing import Any, Generic, TypeVar

from .base import ProviderAdapter
from .errors import classify
from .transport import LoopBound

C = TypeVar("C")


class ClientAdapter(ProviderAdapter, Generic[C]):
    def __init__(self, *, base_url: str | None, api_key: str | None, timeout_s: float) -> None:
        super().__init__(base_url=base_url, api_key=api_key, timeout_s=timeout_s)
        self._api_key = api_key
        self._clients: LoopBound[C] = LoopBound(self._make_client, self._close_client)

    @abstractmethod
    def _make_client(self) -> C:
        """Create the SDK client; called inside the running event loop."""

    @staticmethod
    async def _close_client(client: Any) -> None:
        await client.close()

    def _sdk_kwargs(self, aiohttp_client: Any, transport: str) -> dict[str, Any]:
        """Constructor arguments shared by the anthropic and openai SDK clients."""
        from .transport import sdk_timeout

        kwargs: dict[str, Any] = {
            # A placeholder, so the SDK never falls back to a key from the environment.
            "api_key": self._api_key or "no-key",
            "timeout": sdk_timeout(self.timeout_s),
            "max_retries": 0,  # the gateway retries and fails over itself
        }
        if transport == "aiohttp":
            kwargs["http_client"] = aiohttp_client(timeout=sdk_timeout(self.timeout_s))
        if self.base_url:
            kwargs["base_url"] = self.base_url
        return kwargs

    def _error(self, exc: Exception) -> Exception:
        return classify(exc, provider=self.kind, api_key=self._api_key)

    async def aclose(self) -> None:
        await self._clients.aclose()
