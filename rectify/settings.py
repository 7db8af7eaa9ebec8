"""Settings for rectify, read from the environment with safe development defaults.

Development needs nothing: SQLite under var/ and a Celery broker on the file system.
Production sets DATABASE_URL, REDIS_URL, SECRET_KEY and DEBUG=0.
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("RECTIFY_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


DEBUG = env_bool("DEBUG", True)
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production"  # noqa: S105 (DEBUG only)

ALLOWED_HOSTS = [h for h in os.environ.get("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver").split(",") if h]
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "simple_history",
    "axes",
    "accounts",
    "findings",
    "measures",
    "dashboards",
    "ledgerio",
    "drafts",
    "notices",
    # Demo and benchmark data: its commands (load_demo, generate_ledger) only; nothing in
    # the product imports it (make lint's import contract checks).
    "devdata",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Static files from the web process itself, before anything that reads the session.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "rectify.common.security.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "rectify.common.locale.ChineseFirstLocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    # Last, as django-axes requires: it turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "rectify.urls"

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
                "django.template.context_processors.i18n",
            ],
        },
    },
]

WSGI_APPLICATION = "rectify.wsgi.application"

DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{VAR_DIR / 'rectify.sqlite3'}",
        conn_max_age=int(os.environ.get("DB_CONN_MAX_AGE", "60")),
    )
}

AUTH_USER_MODEL = "accounts.User"
# The login throttle first: it refuses a locked-out username+address before any password
# is checked (django-axes; rectify.common.security explains the subclass).
AUTHENTICATION_BACKENDS = [
    "rectify.common.security.LoginThrottleBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "login"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = os.environ.get("LANGUAGE_CODE", "zh-hans")
LANGUAGES = [("zh-hans", _("简体中文")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = os.environ.get("TIME_ZONE", "Asia/Shanghai")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", VAR_DIR / "staticfiles"))
if DEBUG:
    # WhiteNoise serves from the app folders in development but warns when this is missing.
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", VAR_DIR / "media"))
# Evidence is never served by URL directly: a view checks who may see the measure first.
MEDIA_URL = "/evidence-files/"

if not DEBUG:
    # Hashed names (cache for ever) and pre-compressed files, served by WhiteNoise; needs
    # `collectstatic` at deploy. Development and tests keep the plain storage, which needs
    # no manifest.
    STORAGES = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Rectification rules -------------------------------------------------------------
DUE_SOON_DAYS = int(os.environ.get("DUE_SOON_DAYS", "7"))
# 一月一汇报: the period within which each open measure needs a progress report.
REPORTING_PERIOD = os.environ.get("REPORTING_PERIOD", "monthly")
RECOMPUTE_EVERY_MINUTES = int(os.environ.get("RECOMPUTE_EVERY_MINUTES", "10"))
DEMO_PASSWORD = os.environ.get("DEMO_PASSWORD", "rectify-demo")

# --- Celery ----------------------------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_RESULT_BACKEND = REDIS_URL
else:
    # A broker that needs no server, so `make demo` runs a real worker on a bare laptop.
    CELERY_QUEUE_DIR = VAR_DIR / "celery"
    for sub in ("queue", "processed", "results", "control"):
        (CELERY_QUEUE_DIR / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_QUEUE_DIR / "queue"),
        "data_folder_out": str(CELERY_QUEUE_DIR / "queue"),
        "processed_folder": str(CELERY_QUEUE_DIR / "processed"),
        # Broadcast exchanges (remote control); kombu's default is ./control in the cwd.
        "control_folder": str(CELERY_QUEUE_DIR / "control"),
        "store_processed": False,
    }
    CELERY_RESULT_BACKEND = f"file://{CELERY_QUEUE_DIR / 'results'}"
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# The beat schedule itself is in rectify/celery.py (it needs celery.schedules.crontab).

# --- Recompute job and reminders -------------------------------------------------------
# A change to a measure queues one recompute this many seconds after its commit; the
# changes of a batch (100 sign-offs) that arrive meanwhile ride on the same run.
RECOMPUTE_DEBOUNCE_SECONDS = int(os.environ.get("RECOMPUTE_DEBOUNCE_SECONDS", "5"))
# A change still not in the figures this long after it was saved means the queue or the
# worker is down (Redis unreachable, say): the dashboards then say the figures may be stale.
FIGURES_STALE_AFTER_SECONDS = int(os.environ.get("FIGURES_STALE_AFTER_SECONDS", "120"))
# Without advisory locks (SQLite) a run claims a row; a crashed run's claim expires after this.
RECOMPUTE_LOCK_STALE_SECONDS = int(os.environ.get("RECOMPUTE_LOCK_STALE_SECONDS", "900"))
# PostgreSQL work_mem for the job's transaction: its GROUP BYs hash every finding.
RECOMPUTE_WORK_MEM = os.environ.get("RECOMPUTE_WORK_MEM", "256MB")
# The morning digest (Asia/Shanghai, CELERY_TIMEZONE).
REMINDER_HOUR = int(os.environ.get("REMINDER_HOUR", "8"))
REMINDER_MINUTE = int(os.environ.get("REMINDER_MINUTE", "0"))
# A digest lists at most this many measures per section and counts the rest.
REMINDER_MAX_ITEMS = int(os.environ.get("REMINDER_MAX_ITEMS", "50"))

# --- Cache -----------------------------------------------------------------------------
# Shared by the web process and the Celery worker: the recompute debounce key set by one
# is cleared by the other, so a per-process (locmem) cache would not do.
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "rectify",
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
            "KEY_PREFIX": "rectify",
        }
    }

# --- Email (reminders) -----------------------------------------------------------------
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "rectify@localhost")
SITE_URL = os.environ.get("SITE_URL", "http://127.0.0.1:8000")

# --- REST API --------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "rectify API",
    "VERSION": "1.0.0",
    # Swagger UI and ReDoc from drf-spectacular-sidecar's static files: no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Production hardening --------------------------------------------------------------
if not DEBUG:
    SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", True)
    CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", True)
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    # Load balancers probe /healthz over plain HTTP inside the network; a redirect would fail them.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "31536000"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_AGE = int(os.environ.get("SESSION_COOKIE_AGE", str(8 * 3600)))
# A shared office PC: closing the browser ends the session too, not only the 8 hours.
SESSION_EXPIRE_AT_BROWSER_CLOSE = env_bool("SESSION_EXPIRE_AT_BROWSER_CLOSE", True)
# Sessions live in the database (Django's default engine, named here because scaling out
# depends on it): any web process on any machine reads any user's session.
SESSION_ENGINE = "django.contrib.sessions.backends.db"

# --- Login throttle (django-axes) --------------------------------------------------------
# Five failed passwords for one username from one address lock that pair out for 15
# minutes; the same username from another desk, or another user at this desk, still works.
AXES_FAILURE_LIMIT = int(os.environ.get("AXES_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = timedelta(minutes=int(os.environ.get("AXES_COOLOFF_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
# And one address trying many usernames (password spraying) is refused after this many
# failures within the cool-off, whatever the usernames (rectify.common.security). High,
# because a whole office behind one NAT address shares it.
LOGIN_ADDRESS_FAILURE_LIMIT = int(os.environ.get("LOGIN_ADDRESS_FAILURE_LIMIT", "30"))
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/lockout.html"
AXES_CLIENT_IP_CALLABLE = "rectify.common.security.client_ip"
# Reverse proxies in front of gunicorn (0: clients connect directly); see client_ip().
NUM_PROXIES = int(os.environ.get("NUM_PROXIES", "0"))
# Successful logins are not logged row by row: the history tables are the audit trail.
AXES_DISABLE_ACCESS_LOG = True

# --- Audit trail ---------------------------------------------------------------------------
# History rows are evidence: the admin's history view shows them but never restores an
# old version over the current one (a revert would bypass the services' rules).
SIMPLE_HISTORY_REVERT_DISABLED = True
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    # django-axes logs every successful login at INFO; failures and lockouts are WARNING.
    "loggers": {"axes": {"level": os.environ.get("AXES_LOG_LEVEL", "WARNING")}},
}
