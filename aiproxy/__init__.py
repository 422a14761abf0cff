"""The project package.

The Celery app (aiproxy/celery.py) is created on first use, not when Django starts:
celery, kombu, billiard and their dependencies cost ~4 MB of RSS in every `serve`
process, which never runs a task and enqueues one only from an admin action
(bench/rss_imports.py). It is still found wherever it is looked for:

- `celery -A aiproxy ...`: Celery looks for `aiproxy.app`, `aiproxy.celery`, then
  imports the `aiproxy.celery` module and takes its `app`;
- `aiproxy.celery_app`: this module's `__getattr__` imports it;
- a tasks module: `@shared_task` proxies resolve to Celery's *current* app when a task
  is used (`.delay()`), and with no app created yet Celery would make an unconfigured
  fallback one (an AMQP broker on localhost). `_CeleryAppBeforeTasks` creates our app
  before any `<package>.tasks` module is imported, as importing it here used to.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

__all__ = ["celery_app"]

CELERY_MODULE = f"{__name__}.celery"
# Whose tasks modules wait for the app: ours only (asyncio.tasks is a `*.tasks` module too).
TASK_PACKAGES = frozenset({"aiproxy", "completions_app", "providers_app", "metrics_app"})


class _CeleryAppBeforeTasks:
    """A meta path finder that finds nothing: it creates the Celery app the first time
    a tasks module of ours (`<app>.tasks`) is imported, then lets the normal finders load that module."""

    def find_spec(self, fullname: str, path: object = None, target: object = None) -> None:
        if (
            fullname.endswith(".tasks")
            and fullname.partition(".")[0] in TASK_PACKAGES
            and CELERY_MODULE not in sys.modules
        ):
            importlib.import_module(CELERY_MODULE)


if not any(isinstance(finder, _CeleryAppBeforeTasks) for finder in sys.meta_path):
    sys.meta_path.insert(0, _CeleryAppBeforeTasks())


def __getattr__(name: str) -> Any:
    if name == "celery_app":
        return importlib.import_module(CELERY_MODULE).app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
