"""The Celery app: broker from CELERY_BROKER_URL, else REDIS_URL; eager when neither is set."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aiproxy.settings")

app = Celery("aiproxy")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
