"""Django settings: every value comes from the environment (see the README's configuration table).

With neither DATABASE_URL nor REDIS_URL set, the embedded defaults apply: SQLite under var/ and a
file-based Celery broker, so the demo needs no service at all.
"""

import base64
import binascii
from datetime import timedelta
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from workbench.env import (
    database_from_url,
    env_bool,
    env_float,
    env_int,
    env_list,
    env_str,
    env_url,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("VAR_DIR") or BASE_DIR / "var")

DEBUG = env_bool("DEBUG", False)

# Development-only fallbacks: a process with DEBUG off refuses to start without real secrets.
_DEV_SECRET_KEY = "insecure-development-key-never-use-in-production"  # noqa: S105 (DEBUG only)
_DEV_FIELD_KEY = "ZGV2ZWxvcG1lbnQta2V5LW5vdC1mb3ItcHJvZHVjdGk="


def _required_secret(name: str, dev_default: str) -> str:
    value = env_str(name)
    if value:
        return value
    if DEBUG:
        return dev_default
    raise ImproperlyConfigured(f"{name} is not set. Set it in the environment (or set DEBUG=1 for local development).")


SECRET_KEY = _required_secret("SECRET_KEY", _DEV_SECRET_KEY)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"] if DEBUG else [])
if not DEBUG and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS is empty; list the host names the workbench is served under.")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")


def _fernet_keys(name: str) -> list[str]:
    keys = env_list(name)
    if not keys:
        if DEBUG:
            return [_DEV_FIELD_KEY]
        raise ImproperlyConfigured(
            f"{name} is not set. Give one or more Fernet keys, newest first, separated by commas "
            '(python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())").'
        )
    for index, key in enumerate(keys, start=1):
        try:
            raw = base64.urlsafe_b64decode(key.encode())
        except (binascii.Error, ValueError):
            raw = b""
        if len(raw) != 32:
            raise ImproperlyConfigured(f"{name}: key #{index} is not a Fernet key (32 url-safe base64-encoded bytes).")
    return keys


# PII columns are encrypted with the first key; the others still decrypt (key rotation).
FIELD_ENCRYPTION_KEYS = _fernet_keys("FIELD_ENCRYPTION_KEYS")
# Keyed hash for exact look-ups of encrypted values (search by full mobile, match imports by ID number).
PII_INDEX_KEY = _required_secret("PII_INDEX_KEY", "development-pii-index-key")

INSTALLED_APPS = [
    "workbench.web.admin_apps.WorkbenchAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "axes",
    "workbench.audit",
    "workbench.org",
    "workbench.web",
    "workbench.exports",
    "workbench.demo",
    "workbench.supervision",
    "workbench.reports",
    "workbench.incentives",
    "tagging",
    "tagging.segments",
    "integrations.wecom",
    "integrations.bank",
    "integrations.wecom_sandbox",
    "campaigns.content",
    "campaigns.channels",
    "campaigns.links",
    "campaigns.playbooks",
    "campaigns.delivery",
    "workbench.sidebar",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "workbench.web.language.ChosenLanguageOnlyMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "workbench.audit.middleware.RequestContextMiddleware",
    # Axes last, as its documentation asks: it must see the outcome of authentication.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "workbench.urls"
WSGI_APPLICATION = "workbench.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "workbench.web.context_processors.navigation",
            ],
        },
    },
]

# Databases: PostgreSQL in production and tests; SQLite under var/ when DATABASE_URL is unset.
DATABASE_URL = env_url("DATABASE_URL", schemes=("postgres", "postgresql"))
if DATABASE_URL:
    DATABASES = {"default": database_from_url(DATABASE_URL)}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "workbench.sqlite3",
            "OPTIONS": {
                "timeout": 30,
                # WAL lets the web process read while a worker writes.
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_url("REDIS_URL", schemes=("redis", "rediss"))
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": VAR_DIR / "cache",
        }
    }

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Sessions and cookies: short-lived, HTTP-only sessions; Secure cookies unless explicitly served over plain HTTP.
SECURE_COOKIES = env_bool("SECURE_COOKIES", not DEBUG)
SESSION_COOKIE_SECURE = SECURE_COOKIES
CSRF_COOKIE_SECURE = SECURE_COOKIES
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 8 * 3600, minimum=300, maximum=7 * 24 * 3600)
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0, minimum=0)
if env_bool("BEHIND_HTTPS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Login throttling (django-axes): five failures lock the username from that address for 15 minutes.
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1, maximum=100)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_LOCKOUT_MINUTES", 15, minimum=1, maximum=24 * 60))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_LOCKOUT_CALLABLE = "workbench.web.lockout.lockout_response"
AXES_IPWARE_META_PRECEDENCE_ORDER = ["REMOTE_ADDR"]

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if env_bool("STATIC_MANIFEST", True)
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
MEDIA_ROOT = VAR_DIR / "media"
EXPORT_ROOT = Path(env_str("EXPORT_ROOT") or VAR_DIR / "exports")
EXPORT_RETENTION_HOURS = env_int("EXPORT_RETENTION_HOURS", 24, minimum=1, maximum=24 * 30)
# Bank data imports: uploaded files and their error reports (shared storage when workers run elsewhere).
IMPORT_ROOT = Path(env_str("IMPORT_ROOT") or VAR_DIR / "imports")
IMPORT_MAX_UPLOAD_MB = env_int("IMPORT_MAX_UPLOAD_MB", 512, minimum=1, maximum=10 * 1024)
# Processes that parse, check and encrypt a large import's rows while the worker writes them.
IMPORT_WORKERS = env_int("IMPORT_WORKERS", 2, minimum=1, maximum=32)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_THROTTLE_CLASSES": ["rest_framework.throttling.UserRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "user": env_str("API_RATE_LIMIT") or "600/min",
        "token": "20/min",
    },
    "EXCEPTION_HANDLER": "workbench.api.exceptions.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "直营工作台 API",
    "DESCRIPTION": "Workbench REST API for the bank side: customers and organisation, scoped by the caller's role.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# Celery: Redis when REDIS_URL is set, otherwise a file-based broker under var/broker (demo only).
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
else:
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(VAR_DIR / "broker" / "queue"),
        "data_folder_out": str(VAR_DIR / "broker" / "queue"),
        "processed_folder": str(VAR_DIR / "broker" / "processed"),
        "control_folder": str(VAR_DIR / "broker" / "control"),
        "store_processed": False,
    }
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = 600
CELERY_TASK_TIME_LIMIT = 660
CELERY_TASK_DEFAULT_QUEUE = "compute"
# The first matching pattern wins: the narrower callbacks pattern must come first.
CELERY_TASK_ROUTES = {
    "integrations.wecom.callbacks.*": {"queue": "callbacks"},
    "integrations.wecom.*": {"queue": "wecom"},
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_TIMEZONE = TIME_ZONE

# WeCom: the same client talks to the real WeCom or to any server that speaks its API.
WECOM_API_BASE_URL = env_url("WECOM_API_BASE_URL", schemes=("http", "https")) or "https://qyapi.weixin.qq.com/cgi-bin/"
if not WECOM_API_BASE_URL.endswith("/cgi-bin/"):
    raise ImproperlyConfigured(
        f"WECOM_API_BASE_URL={WECOM_API_BASE_URL!r} must be the prefix up to and including /cgi-bin/ "
        "(https://qyapi.weixin.qq.com/cgi-bin/ in production)."
    )
WECOM_CORP_ID = env_str("WECOM_CORP_ID", "")
WECOM_SECRET = env_str("WECOM_SECRET", "")
WECOM_AGENT_ID = env_int("WECOM_AGENT_ID", 0, minimum=0)
WECOM_CALLBACK_TOKEN = env_str("WECOM_CALLBACK_TOKEN", "")
WECOM_CALLBACK_AES_KEY = env_str("WECOM_CALLBACK_AES_KEY", "")
if WECOM_CALLBACK_AES_KEY and len(WECOM_CALLBACK_AES_KEY) != 43:
    raise ImproperlyConfigured("WECOM_CALLBACK_AES_KEY must be the 43-character EncodingAESKey from the WeCom console.")
if WECOM_CALLBACK_TOKEN and not (WECOM_CALLBACK_TOKEN.isalnum() and len(WECOM_CALLBACK_TOKEN) <= 32):
    raise ImproperlyConfigured(
        "WECOM_CALLBACK_TOKEN must be at most 32 letters or digits, as the WeCom console issues."
    )

# How the client treats WeCom: per-request timeout, bounded retries of transient errors, and the rate limits
# WeCom enforces (per API per corp per minute; per member per minute and hour for app messages).
WECOM_TIMEOUT_SECONDS = env_float("WECOM_TIMEOUT_SECONDS", 10.0, minimum=0.1, maximum=120)
WECOM_MAX_RETRIES = env_int("WECOM_MAX_RETRIES", 3, minimum=0, maximum=10)
WECOM_RETRY_BASE_SECONDS = env_float("WECOM_RETRY_BASE_SECONDS", 0.5, minimum=0, maximum=60)
WECOM_API_CALLS_PER_MINUTE = env_int("WECOM_API_CALLS_PER_MINUTE", 10_000, minimum=1)
WECOM_MEMBER_MESSAGES_PER_MINUTE = env_int("WECOM_MEMBER_MESSAGES_PER_MINUTE", 30, minimum=1)
WECOM_MEMBER_MESSAGES_PER_HOUR = env_int("WECOM_MEMBER_MESSAGES_PER_HOUR", 1000, minimum=1)
# Sent with the welcome code of a new contact when no channel code supplies its own; empty: none is sent.
WECOM_WELCOME_TEXT = env_str("WECOM_WELCOME_TEXT", "")
if len(WECOM_WELCOME_TEXT.encode()) > 4000:
    raise ImproperlyConfigured("WECOM_WELCOME_TEXT is longer than WeCom's 4000 bytes.")
# WeCom web OAuth (网页授权): identifies a customer who opens a tracked link inside WeChat. The sandbox serves the
# same path (http://127.0.0.1:8100/connect/oauth2/authorize).
WECOM_OAUTH_AUTHORIZE_URL = (
    env_url("WECOM_OAUTH_AUTHORIZE_URL", schemes=("http", "https"))
    or "https://open.weixin.qq.com/connect/oauth2/authorize"
)
# The WeCom JS-SDK the chat sidebar (/sidebar/) loads for wx.agentConfig and wx.invoke. The demo and the tests point
# it at the sandbox's emulation (http://127.0.0.1:8100/jssdk/jwxwork.js).
WECOM_JSSDK_URL = (
    env_url("WECOM_JSSDK_URL", schemes=("http", "https"))
    or "https://open.work.weixin.qq.com/wwopen/js/jwxwork-1.0.0.js"
)
# Where customers' phones reach the workbench's link redirect (/l/<token>): links in content are rewritten to it.
# In production a public HTTPS origin, set as a trusted domain of the WeCom app (web OAuth redirects to it).
_TRACKED_LINK_BASE_URL = env_url("TRACKED_LINK_BASE_URL", schemes=("http", "https")) or "http://127.0.0.1:8000"
TRACKED_LINK_BASE_URL = _TRACKED_LINK_BASE_URL.rstrip("/")

# The delivery engine (docs/delivery.md). A mass send whose answer from WeCom was lost is looked for in WeCom's list
# only after it can no longer be in flight, and only created again if it is not there.
DELIVERY_SETTLE_SECONDS = env_int("DELIVERY_SETTLE_SECONDS", 120, minimum=1, maximum=3600)
# How often an open mass send is asked about (the member's confirmation, then each customer's result).
DELIVERY_POLL_SECONDS = env_int("DELIVERY_POLL_SECONDS", 60, minimum=0, maximum=3600)
# Sender loops the dispatch tick starts at most (each makes one add_msg_template call at a time).
DELIVERY_SENDERS = env_int("DELIVERY_SENDERS", 4, minimum=1, maximum=64)
# The operator's home page lists customers with no touch and no transaction for this many days (docs/operator-home.md).
HOME_SILENT_DAYS = env_int("HOME_SILENT_DAYS", 30, minimum=1, maximum=365)
# Supervision (docs/supervision.md): the effective-customer figure counts customers carrying this tag ("group/tag"
# of the tag library). The attribution window is the contact policy's conversion window (set in the UI).
SUPERVISION_EFFECTIVE_TAG = env_str("SUPERVISION_EFFECTIVE_TAG") or "有效客户/有效客户"
if SUPERVISION_EFFECTIVE_TAG.count("/") != 1 or not all(SUPERVISION_EFFECTIVE_TAG.split("/")):
    raise ImproperlyConfigured(f"SUPERVISION_EFFECTIVE_TAG={SUPERVISION_EFFECTIVE_TAG!r} must be 'group/tag'.")

LOG_LEVEL = (env_str("LOG_LEVEL") or "INFO").upper()
if LOG_LEVEL not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
    raise ImproperlyConfigured(f"LOG_LEVEL={LOG_LEVEL!r} is not a logging level.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"axes": {"level": "WARNING"}},
}

WORKBENCH_NAME = _("直营工作台")
