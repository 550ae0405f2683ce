"""The Celery application. Broker and schedule come from settings (CELERY_*)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("hotline")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()  # each app's tasks.py
# Task modules kept apart from cases.tasks so that no task body imports back into the
# service that queues it (see cases/tasks.py).
app.autodiscover_tasks(["cases.deadlines", "cases.notifications"])
app.autodiscover_tasks(["cases"], related_name="callback_tasks")
