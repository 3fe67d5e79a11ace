"""Secure by default: production refuses to boot without its secrets; DEBUG is off outside local."""

from __future__ import annotations

import secrets

import pytest

from tests.conftest import clean_env, run_python

GOOD_KEY = secrets.token_urlsafe(64)
PROD_BOOT = "import django; django.setup(); from django.conf import settings; print(settings.DEBUG, settings.SESSION_COOKIE_SECURE, settings.CSRF_COOKIE_SECURE)"


def prod_env(**overrides: str) -> dict[str, str]:
    values = {
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "DJANGO_SECRET_KEY": GOOD_KEY,
        "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/loopfeedback",
        "DJANGO_ALLOWED_HOSTS": "feedback.example.org",
    }
    values.update(overrides)
    return clean_env(**{k: v for k, v in values.items() if v is not None})


def test_production_boots_with_its_secrets_and_secure_cookies(tmp_path):
    result = run_python(PROD_BOOT, env=prod_env(LOOP_DATA_DIR=str(tmp_path)))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "True", "True"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"DJANGO_SECRET_KEY": ""}, "DJANGO_SECRET_KEY is required"),
        ({"DJANGO_SECRET_KEY": "short-key"}, "too short"),
        ({"DJANGO_SECRET_KEY": "a" * 60}, "too short or too simple"),
        ({"DJANGO_SECRET_KEY": "django-insecure-" + secrets.token_urlsafe(50)}, "placeholder"),
        ({"DJANGO_SECRET_KEY": "change-me-" + secrets.token_urlsafe(50)}, "placeholder"),
        ({"DATABASE_URL": ""}, "DATABASE_URL is required"),
        ({"DJANGO_ALLOWED_HOSTS": ""}, "DJANGO_ALLOWED_HOSTS"),
        ({"DJANGO_ALLOWED_HOSTS": "*"}, "DJANGO_ALLOWED_HOSTS"),
    ],
)
def test_production_refuses_to_boot_without_safe_values(tmp_path, overrides, message):
    result = run_python(PROD_BOOT, env=prod_env(LOOP_DATA_DIR=str(tmp_path), **overrides))
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert message in result.stderr


def test_base_settings_keep_debug_off_and_have_no_secret(tmp_path):
    code = "import django; django.setup(); from django.conf import settings; print(settings.DEBUG, repr(settings.SECRET_KEY))"
    result = run_python(code, env=clean_env(DJANGO_SETTINGS_MODULE="config.settings.base", LOOP_DATA_DIR=str(tmp_path)))
    # Without a key Django refuses to start: there is no fallback secret anywhere.
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_local_settings_generate_a_private_secret_per_checkout(tmp_path):
    code = "import django; django.setup(); from django.conf import settings; print(settings.DEBUG, settings.SECRET_KEY)"
    env = clean_env(DJANGO_SETTINGS_MODULE="config.settings.local", LOOP_DATA_DIR=str(tmp_path))
    first = run_python(code, env=env)
    second = run_python(code, env=env)
    other = run_python(
        code, env=clean_env(DJANGO_SETTINGS_MODULE="config.settings.local", LOOP_DATA_DIR=str(tmp_path / "b"))
    )
    assert first.returncode == 0, first.stderr
    debug, key = first.stdout.split()
    assert debug == "True"
    assert len(key) >= 50
    assert second.stdout.split()[1] == key  # stable for one checkout
    assert other.stdout.split()[1] != key  # never shared between checkouts
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_embedded_default_is_sqlite_in_wal_with_immediate_transactions(tmp_path):
    code = (
        "import django; django.setup(); from django.db import connection; from django.conf import settings;"
        "c = connection.cursor(); c.execute('PRAGMA journal_mode'); print(connection.vendor, c.fetchone()[0],"
        " settings.DATABASES['default']['OPTIONS']['transaction_mode'], settings.CELERY_BROKER_URL)"
    )
    result = run_python(
        code, env=clean_env(DJANGO_SETTINGS_MODULE="config.settings.local", LOOP_DATA_DIR=str(tmp_path))
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["sqlite", "wal", "IMMEDIATE", "filesystem://"]


PREPARED = (
    "import django; django.setup(); from django.db import connection; c = connection.cursor();"
    "[c.execute('SELECT %s::int + 1', [n]) for n in range(8)];"
    "c.execute('SHOW plan_cache_mode'); mode = c.fetchone()[0];"
    "c.execute('SELECT count(*) FROM pg_prepared_statements'); print(mode, c.fetchone()[0])"
)


@pytest.mark.parametrize(("flag", "expected"), [(None, ["force_custom_plan", "1"]), ("false", ["auto", "0"])])
def test_postgres_prepares_repeated_statements_with_custom_plans_unless_turned_off(tmp_path, flag, expected):
    # The server's own database: what is checked is the connection, not a schema.
    env = prod_env(LOOP_DATA_DIR=str(tmp_path), DATABASE_URL="postgres://postgres@127.0.0.1:5432/postgres")
    if flag is not None:
        env["DATABASE_PREPARED_STATEMENTS"] = flag
    result = run_python(PREPARED, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == expected
