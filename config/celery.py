"""The Celery application. Queues: ``default`` and ``gpu`` (tasks named ``gpu.*``)."""

from __future__ import annotations

import os

from celery import Celery
from kombu.entity import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

# DjangoTask gives every task ``delay_on_commit``: a task that reads a row must be enqueued only
# once the transaction that wrote the row has committed, or the worker may not see it.
app = Celery("loopfeedback", task_cls="celery.contrib.django.task:DjangoTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = (Queue("default"), Queue("gpu"))
app.autodiscover_tasks()
