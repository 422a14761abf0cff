"""The Celery app: broker from CELERY_BROKER_URL, else REDIS_URL; eager when neither is set.

Tasks modules bind to it explicitly (`from aiproxy.celery import app`, `@app.task`), so a task
always has this configured app, whichever module or thread uses it first; `celery -A aiproxy
worker|beat` finds it as `aiproxy.celery.app` and imports the tasks modules (autodiscover).
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aiproxy.settings")

app = Celery("aiproxy")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
