"""Settings, read from the environment (see .env.example for every variable).

With no environment at all this is development mode on embedded defaults:
SQLite under data/, in-process cache and breaker state, Celery eager.
"""

import ipaddress
import os
import tempfile
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = BASE_DIR / "data"

env = environ.Env()

DEBUG = env.bool("DEBUG", default=True)

DEV_SECRET_KEY = "dev-insecure-secret-key-change-me"  # noqa: S105 - development default, refused when DEBUG=0
DEV_FIELD_ENCRYPTION_KEY = "dev-insecure-field-encryption-key-change-me"  # noqa: S105

SECRET_KEY = env.str("SECRET_KEY", default=DEV_SECRET_KEY)
FIELD_ENCRYPTION_KEY = env.str("FIELD_ENCRYPTION_KEY", default=DEV_FIELD_ENCRYPTION_KEY)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["*"] if DEBUG else [])

if not DEBUG:
    _missing = [
        name
        for name, value, dev in (
            ("SECRET_KEY", SECRET_KEY, DEV_SECRET_KEY),
            ("FIELD_ENCRYPTION_KEY", FIELD_ENCRYPTION_KEY, DEV_FIELD_ENCRYPTION_KEY),
        )
        if value == dev or len(value) < 32
    ]
    if _missing:
        raise ImproperlyConfigured(
            "DEBUG=0 (production) refuses the development defaults: set "
            + " and ".join(_missing)
            + " to random strings of at least 32 characters "
            "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(48))')."
        )
    if not ALLOWED_HOSTS:
        raise ImproperlyConfigured("DEBUG=0 needs ALLOWED_HOSTS (comma-separated host names).")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI assets served from the project, not a CDN
    "providers_app",
    "completions_app",
    "metrics_app",
    "aiproxy",  # the project's own command, `serve`: the top of the import graph (docs/architecture.md)
]

# Admin and docs get Django's full middleware; the /v1 API takes a direct ASGI
# route with none (aiproxy/asgi.py): every sync middleware is a thread hop per
# request (docs/benchmarks.md). django-prometheus's pair (first and last) counts and
# times the requests Django serves (django_http_*), exported with the gateway's metrics.
MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "aiproxy.urls"
ASGI_APPLICATION = "aiproxy.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- database ---------------------------------------------------------------
# An empty DATABASE_URL means "unset", like no variable at all.
DATABASES = {
    "default": environ.Env.db_url_config(
        env.str("DATABASE_URL", default="") or f"sqlite:///{DATA_DIR / 'aiproxy.sqlite3'}"
    )
}
_db = DATABASES["default"]
if _db["ENGINE"] == "django.db.backends.sqlite3":
    # WAL + IMMEDIATE transactions + a busy timeout: concurrent writers queue
    # instead of answering "database is locked".
    _db["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # Tests on a file too, not Django's default shared-cache in-memory database: its table
    # locks answer "database table is locked" at once (no busy timeout), so a request's read
    # racing the record writer failed where the real WAL file just waits.
    _db["TEST"] = {"NAME": os.path.join(tempfile.gettempdir(), f"aiproxy-test-{os.getpid()}.sqlite3")}
elif _db["ENGINE"] in ("django.db.backends.postgresql", "django.db.backends.postgresql_psycopg2"):
    _db["ENGINE"] = "django.db.backends.postgresql"
    # CONN_MAX_AGE>0 leaks connections under ASGI; psycopg's pool does not.
    _db["CONN_MAX_AGE"] = 0
    # A short pool timeout: while the database is down, a request that needs it
    # (an uncached client key) fails fast instead of waiting psycopg's default 30 s.
    _db.setdefault("OPTIONS", {})["pool"] = {
        "min_size": 1,
        "max_size": env.int("DB_POOL_SIZE", default=10),
        "timeout": env.float("DB_POOL_TIMEOUT_S", default=2.0),
    }
# The same backend, its queries counted and timed by django-prometheus (django_db_*).
_db["ENGINE"] = _db["ENGINE"].replace("django.db.backends.", "django_prometheus.db.backends.")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- redis (optional) -------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if not REDIS_URL and env.str("REDIS_ADDR", default=""):
    REDIS_URL = f"redis://{env.str('REDIS_ADDR')}/0"
# Every Redis call on the request path is bounded by this; past it the gateway
# carries on without Redis (cache bypassed, breaker and rotation local).
REDIS_TIMEOUT_S = env.float("REDIS_TIMEOUT_S", default=0.25)

# Django's cache (django-redis with Redis, shared by every process; local memory otherwise)
# and the admin's sessions: with Redis read from it, written through to the database (a
# Redis flush logs nobody out); without it, the database only (a local-memory copy would
# go stale between `serve --workers` processes).
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "aiproxy-django",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 1, "SOCKET_TIMEOUT": 1},
        }
    }
    SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- gateway behaviour -------------------------------------------------------
HTTP_PORT = env.int("HTTP_PORT", default=8080)
GRPC_PORT = env.int("PORT", default=8087)
METRICS_PORT = env.int("METRICS_PORT", default=9090)
BIND_HOST = env.str("BIND_HOST", default="0.0.0.0")  # noqa: S104 - a server binds all interfaces by default
CIRCUIT_BREAKER_MAX_REQUESTS = env.int("CIRCUIT_BREAKER_MAX_REQUESTS", default=5)
CIRCUIT_BREAKER_TIMEOUT = env.float("CIRCUIT_BREAKER_TIMEOUT", default=60)
CACHE_TTL = env.int("CACHE_TTL", default=3600)
KEY_COOLDOWN_S = env.float("KEY_COOLDOWN_S", default=30)
CATALOG_TTL_S = env.float("CATALOG_TTL_S", default=5)
MAX_REQUEST_BYTES = env.int("MAX_REQUEST_BYTES", default=1_048_576)
SHUTDOWN_GRACE_S = env.float("SHUTDOWN_GRACE_S", default=30)
MAX_IN_FLIGHT = env.int("MAX_IN_FLIGHT", default=0)  # API requests per process; 0 = no limit
# Past this many API requests in flight a process stops accepting new connections (they wait
# in the kernel's listen queue, not in memory); 0 = always accept. aiproxy/acceptor.py.
ACCEPT_HIGH_WATER = env.int("ACCEPT_HIGH_WATER", default=2048)
DEFAULT_MAX_TOKENS = env.int("DEFAULT_MAX_TOKENS", default=4096)
# Budgets and rate limits (completions_app/services/limits*.py): how long a reservation of a
# request in flight is held when its process never settles it (it died).
LIMIT_RESERVATION_TTL_S = env.int("LIMIT_RESERVATION_TTL_S", default=600)
# How long the limiter waits for Redis before counting in this process alone (longer than
# REDIS_TIMEOUT_S: counting apart costs exactness, a cache miss costs nothing).
LIMIT_REDIS_TIMEOUT_S = env.float("LIMIT_REDIS_TIMEOUT_S", default=1.0)
# The HTTP front door (aiproxy/http_guard.py, aiproxy/acceptor.py): request line + headers
# per request, seconds to receive the headers / the body, idle seconds between requests on a
# kept-alive connection, and open HTTP connections per process (past it new ones are closed).
MAX_HEADER_BYTES = env.int("MAX_HEADER_BYTES", default=65_536)
HEADER_TIMEOUT_S = env.float("HEADER_TIMEOUT_S", default=10)
BODY_TIMEOUT_S = env.float("BODY_TIMEOUT_S", default=30)
KEEPALIVE_TIMEOUT_S = env.float("KEEPALIVE_TIMEOUT_S", default=5)
MAX_CONNECTIONS = env.int("MAX_CONNECTIONS", default=10_000)  # 0 = no cap
RECORD_QUEUE_MAX = env.int("RECORD_QUEUE_MAX", default=100_000)
RECORD_BATCH_SIZE = env.int("RECORD_BATCH_SIZE", default=500)
RECORD_FLUSH_INTERVAL_S = env.float("RECORD_FLUSH_INTERVAL_S", default=0.2)
# Failed client keys per source address per minute before 429 (per process; 0 = no limit),
# and the proxies whose X-Forwarded-For is believed (IPs/CIDRs): completions_app/services/auth_limit.py.
AUTH_FAILURES_PER_MINUTE = env.int("AUTH_FAILURES_PER_MINUTE", default=30)
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", default=[])
for _proxy in TRUSTED_PROXIES:
    try:
        ipaddress.ip_network(_proxy.strip(), strict=False)
    except ValueError:
        raise ImproperlyConfigured(f"TRUSTED_PROXIES: {_proxy!r} is not an IP address or CIDR.") from None
PROBE_DISABLE_AFTER = env.int("PROBE_DISABLE_AFTER", default=0)  # 0 = never auto-disable
# Seconds between provider probes: run by `serve` itself (one process) and by a Celery beat if
# one runs; each skips a tick when a probe ran recently. 0 = no scheduled probes.
PROBE_INTERVAL_S = env.float("PROBE_INTERVAL_S", default=300)
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_REQUEST_BYTES

# --- celery -------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL or "memory://")
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=REDIS_URL or "cache+memory://")
CELERY_TASK_ALWAYS_EAGER = env.bool(
    "CELERY_TASK_ALWAYS_EAGER", default=not (REDIS_URL or env.str("CELERY_BROKER_URL", default=""))
)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_BEAT_SCHEDULE = {
    "rollup-costs": {
        "task": "completions_app.tasks.rollup_costs",
        "schedule": env.float("ROLLUP_INTERVAL_S", default=600),
    },
}
if PROBE_INTERVAL_S > 0:
    CELERY_BEAT_SCHEDULE["probe-providers"] = {
        "task": "providers_app.tasks.probe_providers",
        "schedule": PROBE_INTERVAL_S,
    }

# --- auth, i18n, static --------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "UNAUTHENTICATED_USER": None,
    "EXCEPTION_HANDLER": "completions_app.api.errors.exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "AI Proxy",
    "DESCRIPTION": "One gateway for Anthropic, OpenAI and Ollama: caching, failover, breakers, cost records.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "completions_app.api.openapi.add_v1_paths",
    ],
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        # The SDKs' and HTTP clients' debug logs can include request headers.
        "httpx": {"level": "WARNING"},
        "httpx2": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
        "openai": {"level": "WARNING"},
        "anthropic": {"level": "WARNING"},
    },
}

if not DEBUG:
    SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=True)
    CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=True)
    CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
