"""ASGI entry point.

POST /v1/chat/completions and /v1/complete take the direct route
(completions_app/api/fast_routes.py: no Django request object, URL resolving
or DRF view); the rest of /v1/* is served by APIHandler; everything else
(admin, docs, reports) by Django's own ASGIHandler with the full MIDDLEWARE.
MAX_IN_FLIGHT counts both API routes.

APIHandler is Django's handler with the per-request thread hops removed
(STACK-NOTES.md: each is ~0.2 ms, and the first per request creates a thread):
- its middleware chain is API_MIDDLEWARE (empty by default): Django's
  session/auth/CSRF middleware are sync, and the API authenticates with
  client keys instead;
- no ThreadSensitiveContext and no request_started/finished signals: their
  receivers (close_old_connections) are sync, and the API never uses the
  ORM on the event loop — its database work runs in worker threads that
  return their connections (completions_app/services/db.py);
- the response is closed inline instead of through sync_to_async.
"""

import asyncio
import json
import os
from contextlib import contextmanager

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aiproxy.settings")

import django  # noqa: E402

django.setup(set_prefix=False)

from django.conf import settings  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402
from django.core.exceptions import RequestAborted  # noqa: E402
from django.core.handlers.asgi import ASGIHandler, get_script_prefix  # noqa: E402
from django.urls import set_script_prefix, set_urlconf  # noqa: E402


@contextmanager
def _middleware(chain: list[str]):  # type: ignore[no-untyped-def]
    saved = settings.MIDDLEWARE
    settings.MIDDLEWARE = chain
    try:
        yield
    finally:
        settings.MIDDLEWARE = saved


_OVERLOADED = json.dumps(
    {"error": {"type": "overloaded", "message": "The gateway is at MAX_IN_FLIGHT; retry shortly.", "param": None,
               "code": "overloaded"}}
).encode()  # fmt: skip


class APIHandler(ASGIHandler):
    def load_middleware(self, is_async: bool = False) -> None:
        with _middleware(settings.API_MIDDLEWARE):
            super().load_middleware(is_async)

    async def get_response_async(self, request):  # type: ignore[no-untyped-def]
        # Django's version also logs every 4xx through sync_to_async (a thread
        # hop per rejected request: a junk-key flood would pay it each time).
        # API errors are in the audit records; 5xx are logged by the error handler.
        set_urlconf(settings.ROOT_URLCONF)
        response = await self._middleware_chain(request)
        response._resource_closers.append(request.close)
        return response

    async def handle(self, scope, receive, send):  # type: ignore[no-untyped-def]
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        set_script_prefix(get_script_prefix(scope))
        request, error_response = self.create_request(scope, body_file)
        if request is None:
            body_file.close()
            await self.send_response(error_response, send)
            error_response.close()
            return

        async def process_request() -> object:
            response = await self.get_response_async(request)
            try:
                await self.send_response(response, send)
            except asyncio.CancelledError:
                pass  # the client went away while we were sending
            return response

        # As Django does: a client disconnect cancels the view (and with it
        # the upstream call and any stream).
        listener = asyncio.ensure_future(self.listen_for_disconnect(receive))
        worker = asyncio.ensure_future(process_request())
        await asyncio.wait([listener, worker], return_when=asyncio.FIRST_COMPLETED)
        for task in (listener, worker):
            if task.done():
                try:
                    task.result()
                except RequestAborted:
                    pass
            else:
                task.cancel()
                try:
                    await task
                except asyncio.CancelledError:
                    pass
        if not worker.cancelled() and worker.exception() is None:
            response = worker.result()
            for closer in response._resource_closers:  # response.close() minus the sync signal
                try:
                    closer()
                except Exception:  # noqa: S110 - as Django's own close()
                    pass
            response._resource_closers.clear()
        body_file.close()


_api = APIHandler()
# Admin and report assets (admin CSS/JS, the finance chart) are served from the
# apps' static folders by `serve` itself: no separate web server is needed.
_site = ASGIStaticFilesHandler(ASGIHandler())

from completions_app.api import fast_routes  # noqa: E402 - needs django.setup()


class InFlight:
    """API requests this process is serving, for MAX_IN_FLIGHT."""

    count = 0


async def _api_call(scope, receive, send):  # type: ignore[no-untyped-def]
    limit = settings.MAX_IN_FLIGHT
    if limit and InFlight.count >= limit:
        # Shed load at once: a fast 503 beats a request that queues until it times out.
        await send({"type": "http.response.start", "status": 503, "headers": [
            (b"content-type", b"application/json"), (b"retry-after", b"1")]})  # fmt: skip
        await send({"type": "http.response.body", "body": _OVERLOADED})
        return
    InFlight.count += 1
    try:
        call = fast_routes.route_for(scope)
        if call is not None:
            await fast_routes.serve(call, scope, receive, send)
        else:
            await _api(scope, receive, send)
    finally:
        InFlight.count -= 1


async def application(scope, receive, send):  # type: ignore[no-untyped-def]
    if scope["type"] == "http" and scope["path"].startswith("/v1/"):
        return await _api_call(scope, receive, send)
    return await _site(scope, receive, send)
