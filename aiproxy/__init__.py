"""The project package: settings, urls, asgi, the Celery app (aiproxy/celery.py) and `serve`'s runtime.

Nothing is imported here: the Celery app is created when something imports
`aiproxy.celery`, i.e. a tasks module (`from aiproxy.celery import app`, `@app.task`) or
`celery -A aiproxy` (Celery looks for `aiproxy.celery` itself). `serve` imports a tasks
module only when an admin action enqueues a task, so its processes do not carry celery,
kombu and billiard (~4 MB of RSS each, docs/benchmarks.md).
"""
