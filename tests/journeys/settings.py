"""Settings of the server and worker processes the journeys start (``tests/journeys/conftest.py``).

The test settings, plus what several processes must share: one secret key (a session signed in by one
gunicorn worker is read by the other) and queues of this test session's own, so no other test's
worker takes our messages and none of ours is left in the shared ``default`` and ``gpu`` queues.
"""

from __future__ import annotations

from config.env import env
from config.settings.test import *  # noqa: F403

SECRET_KEY = env.str("JOURNEYS_SECRET_KEY")
CELERY_TASK_DEFAULT_QUEUE = env.str("JOURNEYS_QUEUE")
CELERY_TASK_ROUTES = {"gpu.*": {"queue": env.str("JOURNEYS_GPU_QUEUE")}}
# Progress lines, heartbeats and cancel checks every half second, so the run page moves while we watch.
TRAINING_PROGRESS_INTERVAL = 0.5
TRAINING_TERMINATE_GRACE = 10
