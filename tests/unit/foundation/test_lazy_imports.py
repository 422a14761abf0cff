"""What a `serve` process does not import at start, and that what it defers still works.

Each check runs in a fresh interpreter: this one (pytest, every test module) has imported
everything already. docs/benchmarks.md has what each package costs.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def run_fresh(code: str) -> None:
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", textwrap.dedent(code)], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


def test_serve_start_up_imports_no_celery_and_no_websocket_library():
    # What `manage.py serve` imports before it serves (aiproxy/runtime.py), then the
    # uvicorn config it loads: no Celery stack, no WebSocket implementation.
    run_fresh(
        """
        import os, sys
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aiproxy.settings")
        import django
        django.setup()
        from aiproxy.management.commands import serve
        import aiproxy.asgi
        from aiproxy import runtime
        from completions_app.grpc.server import grpc_server_create
        from completions_app.services import catalog, recorder, redis_state, router
        config = runtime.http_config(5)
        config.load()
        assert config.ws_protocol_class is None
        DEFERRED = {"celery", "kombu", "billiard", "amqp", "wsproto"}  # (redis: pybreaker imports it)
        loaded = DEFERRED & {name.partition(".")[0] for name in sys.modules}
        assert not loaded, sorted(loaded)
        # /v1 takes the direct route: DRF's views and the schema generator are for /api/schema/.
        assert not {"rest_framework.views", "drf_spectacular.openapi"} & set(sys.modules)
        """
    )


def test_the_asgi_module_imports_first_in_a_fresh_interpreter():
    # What an ASGI server other than `serve` does (`uvicorn aiproxy.asgi:application`):
    # nothing imported before it (asyncio.tasks is not one of our tasks modules).
    run_fresh(
        """
        import os
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aiproxy.settings")
        import aiproxy.asgi
        assert callable(aiproxy.asgi.application)
        """
    )


def test_tasks_modules_get_the_configured_celery_app_in_any_thread():
    # Tasks bind to aiproxy.celery.app (not shared_task, which would resolve to Celery's
    # unconfigured fallback app, AMQP on localhost, if no app existed yet). Admin actions
    # import them in a worker thread; eager mode is the embedded default.
    run_fresh(
        """
        import os, sys, threading
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aiproxy.settings")
        for name in ("REDIS_URL", "REDIS_ADDR", "CELERY_BROKER_URL", "CELERY_TASK_ALWAYS_EAGER"):
            os.environ.pop(name, None)
        import django
        django.setup()
        assert "celery" not in sys.modules

        seen = {}

        def enqueue_side():
            from providers_app.tasks import probe_providers
            from completions_app.tasks import rollup_costs
            seen["apps"] = (probe_providers.app, rollup_costs.app)

        thread = threading.Thread(target=enqueue_side)
        thread.start()
        thread.join()
        from celery import current_app
        from celery.app.utils import find_app
        from django.conf import settings

        from aiproxy.celery import app

        assert app.main == "aiproxy"
        assert seen["apps"] == (app, app), seen
        assert current_app._get_current_object() is app
        assert app.conf.broker_url == settings.CELERY_BROKER_URL == "memory://"
        assert app.conf.task_always_eager
        assert "providers_app.tasks.probe_providers" in app.tasks
        # `celery -A aiproxy worker|beat` looks the app up like this.
        assert find_app("aiproxy") is app
        """
    )


def test_celery_cli_finds_the_app_without_django_preloaded():
    # As `celery -A aiproxy` does in a fresh process: nothing imported, no settings module set.
    run_fresh(
        """
        import os
        os.environ.pop("DJANGO_SETTINGS_MODULE", None)
        from celery.app.utils import find_app
        app = find_app("aiproxy")
        assert app.main == "aiproxy", app
        assert os.environ["DJANGO_SETTINGS_MODULE"] == "aiproxy.settings"
        app.loader.import_default_modules()
        assert {"providers_app.tasks.probe_providers", "completions_app.tasks.rollup_costs"} <= set(app.tasks)
        """
    )
