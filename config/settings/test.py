"""Tests: the machine's real Postgres and Redis. Nothing here is a secret."""

from __future__ import annotations

import secrets

from config.env import env

from .base import *  # noqa: F403

SECRET_KEY = secrets.token_urlsafe(64)
DEBUG = False
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]
DATABASES = {
    "default": {
        **env.db_url_config(env.str("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/loopfeedback")),
        "CONN_MAX_AGE": 0,
    }
}
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="redis://127.0.0.1:6379/15")
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default="redis://127.0.0.1:6379/15")
# Fast hashing: tests create many users; production keeps Django's default.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# Serve static files straight from the source folders (no collectstatic needed outside production).
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True

# The API fuzz and the authorization sweep send hundreds of requests a minute as one user and from
# one address; tests/core/test_api_throttle.py sets low rates for itself and checks the 429s.
REST_FRAMEWORK = {
    **REST_FRAMEWORK,  # noqa: F405
    "DEFAULT_THROTTLE_RATES": {"anon": "100000/minute", "user": "100000/minute", "imports": "100000/minute"},
}
