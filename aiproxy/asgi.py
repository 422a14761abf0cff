"""ASGI entry point.

/v1/* is served by a handler whose middleware chain is API_MIDDLEWARE (empty
by default): Django's session/auth/CSRF middleware are sync and cost a thread
hop each per request, and the API authenticates with client keys instead.
Everything else (admin, docs, reports) gets the full MIDDLEWARE.
"""

import os
from contextlib import contextmanager

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aiproxy.settings")

import django  # noqa: E402

django.setup(set_prefix=False)

from django.conf import settings  # noqa: E402
from django.core.handlers.asgi import ASGIHandler  # noqa: E402


@contextmanager
def _middleware(chain: list[str]):  # type: ignore[no-untyped-def]
    saved = settings.MIDDLEWARE
    settings.MIDDLEWARE = chain
    try:
        yield
    finally:
        settings.MIDDLEWARE = saved


class APIHandler(ASGIHandler):
    def load_middleware(self, is_async: bool = False) -> None:
        with _middleware(settings.API_MIDDLEWARE):
            super().load_middleware(is_async)


_api = APIHandler()
_site = ASGIHandler()


async def application(scope, receive, send):  # type: ignore[no-untyped-def]
    if scope["type"] == "http" and scope["path"].startswith("/v1/"):
        return await _api(scope, receive, send)
    return await _site(scope, receive, send)
