"""Production: refuses to boot without its secrets. Every value comes from the environment."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

from config.env import env

from .base import *  # noqa: F403

# Values that must never be a production key: empty, the Django scaffold's prefix, or our
# .env.example placeholder.
_WEAK_KEY_MARKERS = ("django-insecure", "change-me", "changeme", "secret", "example")


def _require_secret_key() -> str:
    key = str(env.str("DJANGO_SECRET_KEY", default=""))
    if not key:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY is required in production.")
    if len(key) < 50 or len(set(key)) < 5:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY is too short or too simple (50+ varied characters).")
    if any(marker in key.lower() for marker in _WEAK_KEY_MARKERS):
        raise ImproperlyConfigured("DJANGO_SECRET_KEY looks like a default or placeholder; generate a new one.")
    return key


def _require(name: str) -> str:
    value = str(env.str(name, default=""))
    if not value:
        raise ImproperlyConfigured(f"{name} is required in production.")
    return value


SECRET_KEY = _require_secret_key()
_require("DATABASE_URL")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=[])
if not ALLOWED_HOSTS or "*" in ALLOWED_HOSTS:
    raise ImproperlyConfigured("DJANGO_ALLOWED_HOSTS must list the served host names explicitly.")
DEBUG = False

SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SESSION_COOKIE_AGE = 60 * 60 * 12
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 30)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
