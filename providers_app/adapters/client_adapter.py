"""What the three SDK adapters share: one loop-bound SDK client per adapter, the transport
choice with its POST (SDK or direct), errors classified with the key scrubbed, and closing."""

from __future__ import annotations

from abc import abstractmethod
from typing import Any, Generic, TypeVar

from .base import ProviderAdapter
from .errors import classify
from .transport import LoopBound, check_transport

C = TypeVar("C")
NO_KEY = "no-key"  # given to an SDK for a provider without a key, so it never reads one from the environment


class ClientAdapter(ProviderAdapter, Generic[C]):
    # The SDK request options of the calls `_post` makes (e.g. which auth the SDK applies).
    request_options: dict[str, Any] = {}
    chat_path = ""  # the path complete() and stream() post to

    def __init__(self, *, base_url: str | None, api_key: str | None, timeout_s: float) -> None:
        super().__init__(base_url=base_url, api_key=api_key, timeout_s=timeout_s)
        self._api_key = api_key
        self._clients: LoopBound[C] = LoopBound(self._make_client, self._close_client)
        self._direct: Any = None  # a direct.DirectSender on the `direct` transport

    @abstractmethod
    def _make_client(self, http_client: Any = None) -> C:
        """Create the SDK client (on `http_client` if given); called inside the running event loop."""

    def _set_transport(self, transport: str) -> None:
        self.transport = check_transport(transport)
        if transport == "direct":
            from .direct import DirectSender  # imports aiohttp: only where it is used

            self._direct = DirectSender(
                kind=self.kind, base_url=self.base_url, api_key=self._api_key or NO_KEY, timeout_s=self.timeout_s
            )

    async def warm(self) -> None:
        if self._direct is not None:
            await self._direct.prepare(self.chat_path)

    async def _post(self, path: str, body: dict[str, Any], *, stream: bool = False) -> Any:
        """POST a JSON body. Returns the response (httpx2.Response or direct.DirectResponse): read,
        or with stream=True unread (`aiter_bytes()`, then `aclose()`). An error status raises."""
        if self._direct is not None:
            return await self._direct.post(path, body, stream=stream)
        import httpx2  # loaded with the SDK already; not at the top, for the ollama adapter

        return await self._clients.get().post(
            path, body=body, cast_to=httpx2.Response, options=self.request_options, stream=stream
        )

    @staticmethod
    async def _close_client(client: Any) -> None:
        await client.close()

    def _sdk_kwargs(self, aiohttp_client: Any, http_client: Any = None) -> dict[str, Any]:
        """Constructor arguments shared by the anthropic and openai SDK clients: on `http_client`
        if given, else on the SDK's aiohttp client unless the transport is `httpx`."""
        from .transport import sdk_timeout

        kwargs: dict[str, Any] = {
            # A placeholder, so the SDK never falls back to a key from the environment.
            "api_key": self._api_key or NO_KEY,
            "timeout": sdk_timeout(self.timeout_s),
            "max_retries": 0,  # the gateway retries and fails over itself
        }
        if http_client is not None:
            kwargs["http_client"] = http_client
        elif self.transport != "httpx":
            kwargs["http_client"] = aiohttp_client(timeout=sdk_timeout(self.timeout_s))
        if self.base_url:
            kwargs["base_url"] = self.base_url
        return kwargs

    def _error(self, exc: Exception) -> Exception:
        return classify(exc, provider=self.kind, api_key=self._api_key)

    async def aclose(self) -> None:
        await self._clients.aclose()
        if self._direct is not None:
            await self._direct.aclose()
