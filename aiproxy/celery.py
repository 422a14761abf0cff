"""The Celery app: broker from CELERY_BROKER_URL, else REDIS_URL; eager when neither is set.

Created on first use, not when Django starts: `celery -A aiproxy`, `aiproxy.celery_app`,
or the first import of a `*.tasks` module (aiproxy/__init__.py).
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aiproxy.settings")

app = Celery("aiproxy")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
