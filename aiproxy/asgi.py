"""ASGI entry point.

/v1/* is served by the direct route (completions_app/api/fast_routes.py: no
Django request object, middleware, URL resolving or DRF view, and no thread
hop: docs/benchmarks.md); everything else (admin, docs, schema, reports) by
Django's own ASGIHandler with the full MIDDLEWARE. MAX_IN_FLIGHT counts the
API requests.
"""

import json
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aiproxy.settings")

import django  # noqa: E402

django.setup(set_prefix=False)

from django.conf import settings  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402
from django.core.handlers.asgi import ASGIHandler  # noqa: E402

from completions_app.api import fast_routes  # noqa: E402

_OVERLOADED = json.dumps(
    {"error": {"type": "overloaded", "message": "The gateway is at MAX_IN_FLIGHT; retry shortly.", "param": None,
               "code": "overloaded"}}
).encode()  # fmt: skip

# Admin and report assets (admin CSS/JS, the finance chart) are served from the
# apps' static folders by `serve` itself: no separate web server is needed.
_site = ASGIStaticFilesHandler(ASGIHandler())


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
        await fast_routes.serve(fast_routes.route_for(scope), scope, receive, send)
    finally:
        InFlight.count -= 1


async def application(scope, receive, send):  # type: ignore[no-untyped-def]
    if scope["type"] == "http" and scope["path"].startswith("/v1/"):
        return await _api_call(scope, receive, send)
    return await _site(scope, receive, send)
