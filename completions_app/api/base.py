"""The base of every /v1 view."""

from __future__ import annotations

import inspect
from typing import Any

from adrf.views import APIView as AdrfAPIView


class AsyncAPIView(AdrfAPIView):
    """adrf's APIView, minus one thread hop per request.

    adrf runs DRF's `initial()` (negotiation, auth, permissions, throttles)
    through `sync_to_async`. The /v1 views have no DRF authenticators,
    permissions or throttles (client keys are checked by the service), so
    `initial()` does no I/O and is called inline.
    """

    async def async_dispatch(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        self.args, self.kwargs = args, kwargs
        request = self.initialize_request(request, *args, **kwargs)
        self.request = request
        self.headers = self.default_response_headers
        try:
            # Under the site handler's middleware Host is checked already; checked here for the test client too.
            request._request.get_host()
            self.initial(request, *args, **kwargs)
            method = request.method.lower()
            handler = getattr(self, method, None) if method in self.http_method_names else None
            response = (handler or self._not_allowed)(request, *args, **kwargs)
            if inspect.isawaitable(response):  # DRF's own handlers (OPTIONS) are sync
                response = await response
        except Exception as exc:
            response = self.handle_exception(exc)
        self.response = self.finalize_response(request, response, *args, **kwargs)
        return self.response

    async def _not_allowed(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        self.http_method_not_allowed(request, *args, **kwargs)
