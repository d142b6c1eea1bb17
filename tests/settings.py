"""Test settings: the production settings module, fed a test environment.

Defaults point at the real services the suite runs against (PostgreSQL and Redis on 127.0.0.1);
anything already in the environment wins, so CI or a developer can point elsewhere.
"""

import hashlib
import os

_TEST_ENV = {
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/workbench",
    "REDIS_URL": "redis://127.0.0.1:6379/15",
    "SECRET_KEY": "test-secret-key-not-for-production",
    "FIELD_ENCRYPTION_KEYS": "dGVzdC1rZXktMDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY=",
    "PII_INDEX_KEY": "test-pii-index-key",
    "ALLOWED_HOSTS": "testserver,127.0.0.1,localhost",
    "SECURE_COOKIES": "0",
    "STATIC_MANIFEST": "0",
    "VAR_DIR": os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "var", "test"),
    "WECOM_API_BASE_URL": "http://127.0.0.1:8100/cgi-bin/",
    "WECOM_CORP_ID": "wwtestcorp",
    "WECOM_SECRET": "test-secret",
    "WECOM_AGENT_ID": "1000002",
    "WECOM_CALLBACK_TOKEN": "testCallbackToken2026",
    "WECOM_CALLBACK_AES_KEY": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
    # Retries back off in milliseconds under test, not seconds.
    "WECOM_RETRY_BASE_SECONDS": "0.01",
}
for _name, _value in _TEST_ENV.items():
    os.environ.setdefault(_name, _value)

from workbench.settings import *  # noqa: E402,F403

# Hashing cost is not under test; the default PBKDF2 rounds would dominate the suite's run time.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# One test database per checkout (pytest-xdist adds _gw0, _gw1 …), so two clones can run the suite at once.
_CHECKOUT = hashlib.sha1(str(BASE_DIR).encode()).hexdigest()[:6]  # noqa: F405, S324 - a name, not security
DATABASES["default"].setdefault("TEST", {})["NAME"] = os.environ.get("TEST_DATABASE_NAME") or f"test_wb_{_CHECKOUT}"  # noqa: F405
