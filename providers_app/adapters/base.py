"""The provider interface, and what every adapter shares: its HTTP client and error classification.

An adapter is one provider key's view of one provider: it translates a ChatRequest into its
provider's request and the answer back (pure functions in its module), sends on its own
`UpstreamHttp` (one connection pool), and raises only providers_app.errors.UpstreamError
subclasses, classified here at the boundary; the router and breakers read only that.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Mapping
from typing import Any, ClassVar

from providers_app.errors import InvalidRequest

from .errors import classify
from .http import Response, UpstreamHttp
from .types import ChatRequest, Completion, EmbeddingRequest, Embeddings, StreamChunk


class ProviderAdapter(ABC):
    """One instance per provider key (or per key-less provider)."""

    kind: ClassVar[str]
    default_base_url: ClassVar[str]

    def __init__(self, *, base_url: str | None, api_key: str | None, timeout_s: float) -> None:
        self.base_url = (base_url or self.default_base_url).rstrip("/")
        self.timeout_s = timeout_s
        self._api_key = api_key
        self.headers = {"Content-Type": "application/json", "Accept": "application/json", **self.auth_headers(api_key)}
        self.http = UpstreamHttp(base_url=self.base_url, timeout_s=timeout_s)

    @abstractmethod
    def auth_headers(self, api_key: str | None) -> dict[str, str]:
        """The provider's auth and version headers for this key."""

    @classmethod
    def refusal(cls, request: ChatRequest) -> InvalidRequest | None:
        """The first thing of `request` this kind cannot honour, as the client's error naming
        the field; None when it can honour all of it. Checked before any call (the router
        skips a fallback that would refuse), so nothing is ever dropped silently."""
        return None

    @abstractmethod
    async def complete(self, request: ChatRequest) -> Completion: ...

    @abstractmethod
    def stream(self, request: ChatRequest) -> AsyncIterator[StreamChunk]:
        """Async iterator of chunks; the last one carries usage and finish_reason."""

    async def embed(self, request: EmbeddingRequest) -> Embeddings:
        """Embeddings of `request.inputs`. A kind without an embeddings API keeps this default:
        the client's error, naming the model (the router never fails over on it)."""
        raise InvalidRequest(f'The provider kind "{self.kind}" has no embeddings API.', field="model")

    @abstractmethod
    async def list_models(self) -> list[str]:
        """A cheap authenticated call, used by provider probes."""

    async def _send(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        stream: bool = False,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        """`path` below base_url, with this adapter's headers (and a request's own on top)."""
        merged = {**self.headers, **headers} if headers else self.headers
        return await self.http.request(method, self.base_url + path, merged, body, stream=stream)

    def _error(self, exc: BaseException) -> Exception:
        return classify(exc, provider=self.kind, api_key=self._api_key)

    async def aclose(self) -> None:
        await self.http.aclose()
