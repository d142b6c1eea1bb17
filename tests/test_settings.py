"""Settings from the environment: a bad value stops the process with a message naming the variable.

Each case imports the real settings module (workbench.settings) in a fresh interpreter, because settings
are read once per process.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Every variable the settings module reads; the test environment must not leak into the subprocess.
_READ_BY_SETTINGS = {
    "DEBUG",
    "SECRET_KEY",
    "ALLOWED_HOSTS",
    "CSRF_TRUSTED_ORIGINS",
    "FIELD_ENCRYPTION_KEYS",
    "PII_INDEX_KEY",
    "DATABASE_URL",
    "REDIS_URL",
    "VAR_DIR",
    "SECURE_COOKIES",
    "SESSION_COOKIE_AGE",
    "BEHIND_HTTPS_PROXY",
    "LOGIN_FAILURE_LIMIT",
    "LOGIN_LOCKOUT_MINUTES",
    "STATIC_MANIFEST",
    "EXPORT_ROOT",
    "EXPORT_RETENTION_HOURS",
    "API_RATE_LIMIT",
    "LOG_LEVEL",
}

VALID = {
    "DEBUG": "0",
    "SECRET_KEY": "a-real-secret-for-the-settings-test",
    "ALLOWED_HOSTS": "workbench.bank.local",
    "FIELD_ENCRYPTION_KEYS": "dGVzdC1rZXktMDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY=",
    "PII_INDEX_KEY": "index-key",
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/workbench",
    "REDIS_URL": "redis://127.0.0.1:6379/15",
    "WECOM_API_BASE_URL": "https://qyapi.weixin.qq.com/cgi-bin/",
    "WECOM_CORP_ID": "wwcorp",
    "WECOM_SECRET": "secret",
    "WECOM_AGENT_ID": "1000002",
    "WECOM_CALLBACK_TOKEN": "token123",
    "WECOM_CALLBACK_AES_KEY": "a" * 43,
}

_PROBE = """
import json
from django.conf import settings
from workbench.celery import app
print(json.dumps({
    "engine": settings.DATABASES["default"]["ENGINE"],
    "db_name": str(settings.DATABASES["default"]["NAME"]),
    "broker": settings.CELERY_BROKER_URL,
    "celery_broker": app.conf.broker_url,
    "cache": settings.CACHES["default"]["BACKEND"],
    "debug": settings.DEBUG,
    "agent_id": settings.WECOM_AGENT_ID,
}))
"""


def _run(tmp_path, **overrides):
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in _READ_BY_SETTINGS and not key.startswith(("WECOM_", "CELERY_", "DJANGO_"))
    }
    env.update(VALID)
    env["VAR_DIR"] = str(tmp_path / "var")
    env["DJANGO_SETTINGS_MODULE"] = "workbench.settings"
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return subprocess.run(  # noqa: S603 (our own interpreter, fixed arguments)
        [sys.executable, "-c", _PROBE], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
    )


def test_valid_environment_loads(tmp_path):
    result = _run(tmp_path)
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout)
    assert loaded["engine"] == "django.db.backends.postgresql"
    assert loaded["db_name"] == "workbench"
    assert loaded["broker"] == loaded["celery_broker"] == "redis://127.0.0.1:6379/15"
    assert loaded["cache"] == "django.core.cache.backends.redis.RedisCache"
    assert loaded["debug"] is False
    assert loaded["agent_id"] == 1000002


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DEBUG", "maybe"),
        ("DATABASE_URL", "mysql://x"),
        ("DATABASE_URL", "postgres://127.0.0.1:5432/"),
        ("REDIS_URL", "http://x"),
        ("FIELD_ENCRYPTION_KEYS", "notakey"),
        ("WECOM_API_BASE_URL", "https://qyapi.weixin.qq.com/"),
        ("WECOM_AGENT_ID", "abc"),
        ("WECOM_CALLBACK_AES_KEY", "short"),
        ("WECOM_TIMEOUT_SECONDS", "soon"),
        ("WECOM_TIMEOUT_SECONDS", "0"),
        ("WECOM_MAX_RETRIES", "99"),
        ("WECOM_WELCOME_TEXT", "欢" * 1400),
        ("SECRET_KEY", None),
        ("FIELD_ENCRYPTION_KEYS", None),
        ("ALLOWED_HOSTS", ""),
    ],
)
def test_bad_value_stops_with_the_variable_named(tmp_path, variable, value):
    result = _run(tmp_path, **{variable: value})
    assert result.returncode != 0, f"{variable}={value!r} was accepted:\n{result.stdout}"
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("django.core.exceptions.ImproperlyConfigured:"), result.stderr
    assert variable in last_line


def test_embedded_defaults_without_services(tmp_path):
    result = _run(tmp_path, DATABASE_URL=None, REDIS_URL=None, DEBUG="1", SECRET_KEY=None, FIELD_ENCRYPTION_KEYS=None)
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout)
    assert loaded["engine"] == "django.db.backends.sqlite3"
    assert loaded["db_name"] == str(tmp_path / "var" / "workbench.sqlite3")
    assert loaded["broker"] == loaded["celery_broker"] == "filesystem://"
    assert loaded["cache"] == "django.core.cache.backends.filebased.FileBasedCache"
    assert loaded["debug"] is True


def test_test_settings_point_celery_at_the_test_redis():
    """The suite's Celery app reads its broker from the test settings (config_from_object), not a default."""
    from django.conf import settings

    from workbench.celery import app

    assert settings.CELERY_BROKER_URL == settings.REDIS_URL
    assert app.conf.broker_url == settings.CELERY_BROKER_URL
    assert app.conf.task_serializer == "json"
    assert not app.conf.task_always_eager
