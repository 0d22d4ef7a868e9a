"""Django settings for Invigil, read from the environment.

One settings module for every deployment: with nothing set it runs on embedded defaults (SQLite,
media on the local filesystem under ``INVIGIL_DATA_DIR``, an in-memory channel layer and a Celery
broker in files). Production sets ``INVIGIL_ENV=production`` and the variables listed in README.md.
Every value is checked here, at start, and a bad one stops the process with the variable's name.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from proctor.env import Env

env = Env()

BASE_DIR = Path(__file__).resolve().parent.parent

INVIGIL_ENV = env.choice("INVIGIL_ENV", ("development", "production"), "development")
PRODUCTION = INVIGIL_ENV == "production"

DATA_DIR = Path(env.str("INVIGIL_DATA_DIR", str(BASE_DIR / "data"))).resolve()


def _dev_secret(path: Path, make: Any) -> str:
    """A development-only secret kept in the data folder so it survives restarts."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(make())
        path.chmod(0o600)
    return path.read_text().strip()


def _new_kek_line() -> str:
    return "dev1:" + base64.b64encode(secrets.token_bytes(32)).decode()


def parse_keks(value: str) -> list[tuple[str, bytes]]:
    """Parse ``id:base64key,id:base64key``; the first key wraps new data keys."""
    keys: list[tuple[str, bytes]] = []
    for raw_item in value.split(","):
        item = raw_item.strip()
        if not item:
            continue
        kid, sep, encoded = item.partition(":")
        if not sep or not kid or len(kid) > 32 or not all(c.isalnum() or c in "-_" for c in kid):
            raise ValueError(f"{item[:12]!r}... must look like ID:BASE64KEY with an ID of letters, digits, - and _.")
        try:
            key = base64.b64decode(encoded, validate=True)
        except binascii.Error:
            raise ValueError(f"the key with id {kid!r} is not valid base64.") from None
        if len(key) != 32:
            raise ValueError(f"the key with id {kid!r} is {len(key)} bytes; AES-256 needs 32.")
        if any(kid == existing for existing, _ in keys):
            raise ValueError(f"the key id {kid!r} appears twice.")
        keys.append((kid, key))
    if not keys:
        raise ValueError("at least one key is needed.")
    return keys


# --- Core -------------------------------------------------------------------------------------

DEBUG = env.bool("DEBUG", not PRODUCTION)
if PRODUCTION and DEBUG:
    raise ImproperlyConfigured("DEBUG must be off when INVIGIL_ENV=production.")

if PRODUCTION:
    SECRET_KEY = env.str("SECRET_KEY")
    if len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 5:
        raise ImproperlyConfigured("SECRET_KEY must be at least 50 random characters in production.")
else:
    SECRET_KEY = env.optional_str("SECRET_KEY") or _dev_secret(
        DATA_DIR / "dev-secret-key", lambda: secrets.token_urlsafe(50)
    )

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", [] if PRODUCTION else ["localhost", "127.0.0.1", "[::1]"])
if PRODUCTION and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must list the host names Invigil is served on.")
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    # The built-in form widget templates, for FORM_RENDERER below.
    "django.forms",
    "rest_framework",
    "channels",
    "axes",
    "django_celery_beat",
    "django_celery_results",
    "proctor",
    "identity",
    "exams",
    "recordings",
    "analysis",
    "review",
    "privacy",
    "lockdown",
    "lti",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # NUL and other control characters in any form field, query or JSON body: 400 before a view runs.
    "proctor.control_characters.ControlCharacterMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # Staff sign-ins end after 30 idle minutes and 12 hours in all (exams/staff_sessions.py).
    "exams.staff_sessions.StaffSessionTimeoutMiddleware",
    # An exam that requires Safe Exam Browser: its student's pages and calls pass only from SEB (lockdown).
    "lockdown.middleware.SafeExamBrowserMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # A refusal (proctor/errors.py) no view caught becomes its response here, in one place.
    "proctor.refusals.RefusalMiddleware",
    # Last, as django-axes requires, so it sees every login attempt.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "proctor.urls"
ASGI_APPLICATION = "proctor.asgi.application"
WSGI_APPLICATION = "proctor.wsgi.application"
AUTH_USER_MODEL = "identity.User"

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
                "exams.context_processors.session_statuses",
            ],
        },
    },
]

# Widgets render through TEMPLATES, so templates/ can mend one: the admin's date and time inputs get
# labels there (templates/admin/widgets/split_datetime.html).
FORM_RENDERER = "django.forms.renderers.TemplatesSetting"

# --- Database ---------------------------------------------------------------------------------

DATABASE_URL = env.str("DATABASE_URL", f"sqlite:///{DATA_DIR / 'invigil.sqlite3'}")
try:
    _database = dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)
except ValueError as exc:
    raise ImproperlyConfigured(f"DATABASE_URL is not valid: {exc}") from exc
if _database["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE takes the write lock when a transaction starts, so the web server and the Celery
    # worker serialise their writes instead of failing with "database is locked" half way.
    _database["CONN_MAX_AGE"] = 0
    _database["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;",
    }
elif _database["ENGINE"] != "django.db.backends.postgresql":
    raise ImproperlyConfigured("DATABASE_URL must be a postgres:// or sqlite:// URL.")
if PRODUCTION and _database["ENGINE"] != "django.db.backends.postgresql":
    raise ImproperlyConfigured("Production needs PostgreSQL: set DATABASE_URL=postgres://...")
DATABASES = {"default": _database}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: channel layer, Celery broker ------------------------------------------------------

REDIS_URL = env.optional_str("REDIS_URL")
if REDIS_URL and not REDIS_URL.startswith(("redis://", "rediss://", "unix://")):
    raise ImproperlyConfigured("REDIS_URL must be a redis://, rediss:// or unix:// URL.")
if PRODUCTION and not REDIS_URL:
    raise ImproperlyConfigured("Production needs Redis: set REDIS_URL=redis://...")

if REDIS_URL:
    CHANNEL_LAYERS: dict[str, Any] = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # redis-py times out idle reads after 5 s by default, which kills idle consumers
            # (channels_redis issue 422).
            "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": None}], "capacity": 1500},
        }
    }
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, Any] = {"visibility_timeout": 3600}
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    _broker_dir = DATA_DIR / "celery-broker"
    # kombu's file transport does not create its folders; a missing one stops the worker at start.
    for _folder in (_broker_dir, DATA_DIR / "celery-control"):
        _folder.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir),
        "data_folder_out": str(_broker_dir),
        "control_folder": str(DATA_DIR / "celery-control"),
        "store_processed": False,
    }

CELERY_RESULT_BACKEND = "django-db"
CELERY_RESULT_EXTENDED = True
CELERY_TIMEZONE = "UTC"
CELERY_TASK_ACKS_LATE = True
# Analysis is long and CPU-bound: its own queue, so it never delays playback copies or time-outs.
CELERY_TASK_ROUTES = {
    "analysis.analyse_session": {"queue": "analysis"},
    "analysis.analyse_ahead": {"queue": "analysis"},
}
#: A running analysis silent for this long is taken to have stopped, and another run takes over.
INVIGIL_ANALYSIS_STALE_SECONDS = env.int("INVIGIL_ANALYSIS_STALE_SECONDS", 180)
# Every this many webcam chunks, the analysis ahead of submit is nudged (0: never; all is analysed at the end).
INVIGIL_ANALYSE_AHEAD_CHUNKS = env.int("INVIGIL_ANALYSE_AHEAD_CHUNKS", 20, minimum=0)
# Each exam session may store this many kilobits a second of recording, all streams together, over its
# attempt (plus five minutes): six times what the page records (webcam 480, screen 160), so only a
# fault or an attack reaches it. Chunks past it are refused with code "quota".
INVIGIL_RECORDING_QUOTA_KBIT = env.int("INVIGIL_RECORDING_QUOTA_KBIT", 4000, minimum=1)
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", False)

# --- Media storage ----------------------------------------------------------------------------
# Everything stored here is ciphertext (see proctor/crypto.py); MEDIA_URL is never served.

MEDIA_STORAGE = env.choice("MEDIA_STORAGE", ("filesystem", "s3"), "filesystem")
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", str(DATA_DIR / "media")))
MEDIA_URL = "/media-is-never-served/"
if MEDIA_STORAGE == "s3":
    _media_storage: dict[str, Any] = {
        "BACKEND": "proctor.storage.ObjectStorage",
        "OPTIONS": {
            "bucket_name": env.str("S3_BUCKET"),
            "endpoint_url": env.optional_str("S3_ENDPOINT_URL"),
            "region_name": env.optional_str("S3_REGION"),
            "access_key": env.optional_str("S3_ACCESS_KEY_ID"),
            "secret_key": env.optional_str("S3_SECRET_ACCESS_KEY"),
            "location": env.str("S3_PREFIX", "invigil"),
            "default_acl": "private",
            "querystring_auth": True,
            "file_overwrite": False,
        },
    }
else:
    _media_storage = {
        "BACKEND": "proctor.storage.DurableFileSystemStorage",
        "OPTIONS": {"location": str(MEDIA_ROOT), "file_permissions_mode": 0o600, "directory_permissions_mode": 0o700},
    }
# The audit chain's daily head anchors (proctor/audit.py) live outside the database: by default a
# folder beside the media, in production the object store under its own prefix. Point it at a bucket
# with object lock (or any write-once store) so that whoever can rewrite the database cannot also
# rewrite the anchors.
if MEDIA_STORAGE == "s3":
    _anchor_storage: dict[str, Any] = {
        "BACKEND": _media_storage["BACKEND"],
        "OPTIONS": {
            **_media_storage["OPTIONS"],
            "bucket_name": env.str("AUDIT_ANCHOR_BUCKET", _media_storage["OPTIONS"]["bucket_name"]),
            "location": env.str("AUDIT_ANCHOR_PREFIX", "invigil-audit-anchors"),
        },
    }
else:
    _anchor_storage = {
        "BACKEND": "proctor.storage.DurableFileSystemStorage",
        "OPTIONS": {
            "location": env.str("AUDIT_ANCHOR_DIR", str(DATA_DIR / "audit-anchors")),
            "file_permissions_mode": 0o600,
            "directory_permissions_mode": 0o700,
        },
    }
# With more than one machine, the retention-period keys (see INVIGIL_KEYSTORE_DIR below) must be shared
# too: INVIGIL_KEYSTORE_PREFIX puts them in the object store, under that prefix of INVIGIL_KEYSTORE_BUCKET
# (by default the media bucket). The store must honour conditional writes (If-None-Match).
_keystore_prefix = env.optional_str("INVIGIL_KEYSTORE_PREFIX")
_keystore_storage: dict[str, dict[str, Any]] = {}
if _keystore_prefix is not None:
    if MEDIA_STORAGE != "s3":
        raise ImproperlyConfigured("INVIGIL_KEYSTORE_PREFIX needs MEDIA_STORAGE=s3 (the object store it lives in).")
    _keystore_storage["keystore"] = {
        "BACKEND": _media_storage["BACKEND"],
        "OPTIONS": {
            **_media_storage["OPTIONS"],
            "bucket_name": env.str("INVIGIL_KEYSTORE_BUCKET", _media_storage["OPTIONS"]["bucket_name"]),
            "location": _keystore_prefix,
        },
    }
STORAGES = {
    **_keystore_storage,
    "default": _media_storage,
    "audit_anchors": _anchor_storage,
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
# --- Data residency -----------------------------------------------------------------------------
# Where the database, Redis, the media store and the mail server may be: host names, "*.example.edu"
# for a domain and its hosts, or IP networks ("10.0.0.0/8"). `check --deploy` fails when an endpoint is
# elsewhere, and in production when the list is empty. The server itself (loopback, sockets) is
# always allowed.
INVIGIL_DATA_LOCATIONS = env.list("INVIGIL_DATA_LOCATIONS", [])

# Uploads stay in memory (never a plaintext temp file); the size cap keeps that bounded.
FILE_UPLOAD_HANDLERS = ["django.core.files.uploadhandler.MemoryFileUploadHandler"]
# Any request body past this is refused (413) before Daphne or Django buffers it (proctor/bodylimit.py).
# The largest legitimate bodies are identity pictures (3 MiB each) and the 2 MiB upload-speed probe.
INVIGIL_MAX_REQUEST_BYTES = 10 * 1024 * 1024
# Daphne's limit on one WebSocket message (its own default is 1 MiB). A recording chunk frame is at
# most 4 MiB and a 16-byte header (recordings/services.py, recordings/protocol.py); a little above it,
# a larger frame still reaches the consumer, which closes with its own 4413 and a message.
INVIGIL_MAX_WEBSOCKET_MESSAGE_BYTES = 5 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = INVIGIL_MAX_REQUEST_BYTES
DATA_UPLOAD_MAX_MEMORY_SIZE = INVIGIL_MAX_REQUEST_BYTES

STATIC_URL = "/static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", str(DATA_DIR / "static")))
STATICFILES_DIRS = [BASE_DIR / "static"]

# --- Encryption -------------------------------------------------------------------------------
# Key-encryption keys: "id:base64(32 bytes),id:base64(32 bytes)". The first wraps new data keys;
# the others still unwrap older ones until `manage.py rotate_keys` has re-wrapped them.

if PRODUCTION or env.optional_str("INVIGIL_KEYS"):
    INVIGIL_KEYS = env.parsed("INVIGIL_KEYS", parse_keks)
else:
    # Development only: a key generated once into the data folder.
    INVIGIL_KEYS = parse_keks(_dev_secret(DATA_DIR / "dev-keys", _new_kek_line))

# Retention-period keys (proctor/keystore.py): one key per month of purge dates, each sealed by the key
# above, destroyed once everything due in its month is purged. Keep this folder out of the database's
# and the media store's backups (or keep its backups no longer than the retention periods): a copy of
# it kept longer would let an old database backup decrypt what was purged. `check --deploy` fails when
# it is missing or inside the media folder or the SQLite database's folder.
INVIGIL_KEYSTORE_DIR = Path(env.str("INVIGIL_KEYSTORE_DIR", str(DATA_DIR / "keystore"))).resolve()
if not PRODUCTION:
    # Development only: production expects the operator to create it where its backups are kept apart.
    INVIGIL_KEYSTORE_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)

# --- Authentication ---------------------------------------------------------------------------

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
# Reading someone else's recordings, evidence pictures or review page needs a stated purpose and a
# password typed within ACCESS_REAUTH_MINUTES; the purpose holds for ACCESS_PURPOSE_MINUTES.
ACCESS_REAUTH_MINUTES = env.int("ACCESS_REAUTH_MINUTES", 15, minimum=1)
ACCESS_PURPOSE_MINUTES = env.int("ACCESS_PURPOSE_MINUTES", 60, minimum=1)
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_LOCKOUT_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False
AXES_IPWARE_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", 0, minimum=0)

SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", 8 * 3600, minimum=300)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
#: Staff (instructors, reviewers, admins) are signed out after this long without a request, and after
#: this long in all, whatever SESSION_COOKIE_AGE says.
INVIGIL_STAFF_IDLE_MINUTES = env.int("INVIGIL_STAFF_IDLE_MINUTES", 30, minimum=1)
INVIGIL_STAFF_SESSION_HOURS = env.int("INVIGIL_STAFF_SESSION_HOURS", 12, minimum=1)

# --- Email (password reset) -------------------------------------------------------------------

DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", "invigil@localhost")
if env.optional_str("EMAIL_HOST"):
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_HOST = env.str("EMAIL_HOST")
    EMAIL_PORT = env.int("EMAIL_PORT", 587, minimum=1)
    EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", "")
    EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", "")
    EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", True)
elif PRODUCTION:
    raise ImproperlyConfigured("Production needs EMAIL_HOST for password-reset mail.")
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"

# --- Security ---------------------------------------------------------------------------------

X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
if PRODUCTION:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    # The __Host- prefix: the browser keeps these cookies only if they are Secure, for the whole site
    # (Path=/) and set by this very host (no Domain), so a sibling subdomain cannot plant or read them.
    SESSION_COOKIE_NAME = "__Host-invigil-session"
    CSRF_COOKIE_NAME = "__Host-invigil-csrftoken"
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", True)
    # Health checks come from inside the deployment over plain HTTP.
    SECURE_REDIRECT_EXEMPT = [r"^healthz/$"]
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", 31536000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", True)
    if env.bool("BEHIND_TLS_PROXY", False):
        # Only behind a proxy that sets this header itself and strips it from clients.
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- Internationalisation ---------------------------------------------------------------------

LANGUAGE_CODE = "en-gb"
TIME_ZONE = env.str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# --- REST framework ---------------------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # Refusals (proctor/errors.py) answer with their status and message, in one place.
    "EXCEPTION_HANDLER": "proctor.refusals.api_exception_handler",
    # Per user (proctor/throttling.py). Autosave sends a typed answer after a pause and a choice at
    # once; identity uploads each cost up to a second of face detection and are retried by hand.
    "DEFAULT_THROTTLE_RATES": {"user": "600/minute", "autosave": "120/minute", "identity_upload": "10/minute"},
}

LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", "INFO").upper()},
    "loggers": {"axes": {"level": "WARNING"}},
}

# --- Scheduled jobs (Celery beat; shown in the admin under "Periodic tasks") -------------------
# Beat writes these times back to the database when it starts: change them here, not in the admin.

from celery.schedules import crontab  # noqa: E402

CELERY_BEAT_SCHEDULE = {
    "verify-audit-chain": {"task": "proctor.audit_chain_verify", "schedule": crontab(hour=3, minute=15)},
    "send-tasks-held-back-by-the-broker": {"task": "proctor.outbox_flush", "schedule": 60.0},
    "time-out-expired-attempts": {"task": "exams.time_out_expired_attempts", "schedule": 60.0},
    "finalise-abandoned-recordings": {"task": "recordings.finalise_abandoned", "schedule": 300.0},
    "requeue-stalled-analyses": {"task": "analysis.requeue_stalled", "schedule": 120.0},
    "purge-expired-data": {"task": "privacy.purge_due", "schedule": crontab(hour=2, minute=30)},
    "rotate-lti-signing-keys": {"task": "lti.rotate_keys", "schedule": crontab(day_of_month=1, hour=4, minute=0)},
    "purge-lti-login-states": {"task": "lti.purge_login_states", "schedule": crontab(minute=40)},
}
