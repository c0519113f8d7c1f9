"""Settings shared by every profile. Every value comes from the environment (django-environ).

Profiles (`dev`, `test`, `production`) are small overrides of this module.
"""
from __future__ import annotations

import runpy
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False) if (BASE_DIR / ".env").exists() else None

SECRET_KEY = env("DJANGO_SECRET_KEY", default="insecure-dev-key-change-me")
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "django_filters",
    "axes",
    "simple_history",
    "django_celery_beat",
    # Listed bottom-up: each app depends only on the ones above it in this list.
    "cases",
    "registry",
    "inference",
    "reviews",
    "training",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Before anything reads the body (CSRF reads request.POST): oversized sign-in bodies and
    # upload files over UPLOAD_MAX_BYTES get a 413.
    "cases.uploads.RequestBodyLimitMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    # AxesMiddleware must be last: it turns a lockout into a response.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "scoliosis_portal.urls"
WSGI_APPLICATION = "scoliosis_portal.wsgi.application"

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
                "registry.context_processors.model_change_notices",
            ],
        },
    },
]


def database_tuned(config: dict) -> dict:
    """PostgreSQL without JIT compilation: the review queue's ranked query is costed high enough
    to trigger it, and compiling took 0.8 s of a 1.0 s request at 30,000 radiographs
    (bench/review_queue.py). JIT pays off for long analytics queries, not for web requests."""
    if "postgresql" in config.get("ENGINE", "") and env.bool("DATABASE_DISABLE_JIT", default=True):
        options = config.setdefault("OPTIONS", {})
        options["options"] = f"{options.get('options', '')} -c jit=off".strip()
    return config


DATABASES = {
    "default": database_tuned(env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DATABASE_CONN_MAX_AGE", default=0))
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTHENTICATION_BACKENDS = [
    # Axes first: it refuses a locked-out login before any password is checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "cases:case_list"
LOGOUT_REDIRECT_URL = "login"
# The page that lists the model versions, where the registry's activate and roll-back forms answer
# (the training app's models page shows them beside the runs; the registry names no app above it).
REGISTRY_VERSIONS_PAGE = "training:models"

# Throttle repeated failed logins (django-axes). Two independent counters: failures for one
# username (from anywhere) and failures from one client address (for any username); either one
# reaching the limit locks. A pair counter alone gave a new address unlimited guesses.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("AXES_COOLOFF_HOURS", default=0.25)
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"

LANGUAGE_CODE = "en-gb"
TIME_ZONE = env("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]

# Files. Radiographs, heat-maps and checkpoints go through the storage API; the default is local
# disk under MEDIA_ROOT, never served by a public URL (there is deliberately no MEDIA_URL route).
MEDIA_ROOT = Path(env("MEDIA_ROOT", default=str(BASE_DIR / "media")))
MEDIA_URL = "/media-not-served/"
AWS_STORAGE_BUCKET_NAME = env("AWS_STORAGE_BUCKET_NAME", default="")
if AWS_STORAGE_BUCKET_NAME:
    _default_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": AWS_STORAGE_BUCKET_NAME,
            "access_key": env("AWS_ACCESS_KEY_ID", default=None),
            "secret_key": env("AWS_SECRET_ACCESS_KEY", default=None),
            "endpoint_url": env("AWS_S3_ENDPOINT_URL", default=None),
            "region_name": env("AWS_S3_REGION_NAME", default=None),
            # Private objects: downloads go through an authenticated view or a short-lived
            # signed URL, never a public one.
            "default_acl": "private",
            "querystring_auth": True,
            "querystring_expire": env.int("AWS_QUERYSTRING_EXPIRE", default=300),
            "file_overwrite": False,
        },
    }
else:
    _default_storage = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(MEDIA_ROOT)},
    }
STORAGES = {
    "default": _default_storage,
    # No manifest outside production: pages render before (or without) collectstatic.
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# Upload limits.
UPLOAD_MAX_BYTES = env.int("UPLOAD_MAX_BYTES", default=50 * 1024 * 1024)
UPLOAD_MIN_SIDE_PX = env.int("UPLOAD_MIN_SIDE_PX", default=64)
# An upload the model would refuse must be refused at upload, so the limit is the engine's own
# constant. Its file is read on its own: importing `inference.engine` would load torch into every
# web process. A smaller limit may be set; a larger one is a configuration error.
ENGINE_MAX_PIXELS = int(runpy.run_path(str(BASE_DIR / "inference" / "engine" / "limits.py"))["MAX_PIXELS"])
UPLOAD_MAX_PIXELS = env.int("UPLOAD_MAX_PIXELS", default=ENGINE_MAX_PIXELS)
if not 0 < UPLOAD_MAX_PIXELS <= ENGINE_MAX_PIXELS:
    raise ImproperlyConfigured(
        f"UPLOAD_MAX_PIXELS={UPLOAD_MAX_PIXELS} must be between 1 and the engine's limit "
        f"({ENGINE_MAX_PIXELS:,} pixels): the model could not read a larger upload."
    )
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
# Every uploaded file streams to a temporary file (no in-memory handler, so the size limit holds
# for small requests too) and the handler stops reading a file as soon as it passes
# UPLOAD_MAX_BYTES (cases.uploads).
FILE_UPLOAD_MAX_MEMORY_SIZE = 256 * 1024
FILE_UPLOAD_HANDLERS = ["cases.uploads.SizeLimitedTemporaryFileUploadHandler"]
FILE_UPLOAD_TEMP_DIR = env("FILE_UPLOAD_TEMP_DIR", default=None)
# Sign-in endpoints take a username and a password, never more than this.
AUTH_MAX_BODY_BYTES = env.int("AUTH_MAX_BODY_BYTES", default=1024 * 1024)
AUTH_BODY_LIMITED_PATHS = ["/login/", "/admin/login/", "/api/v1/auth/"]

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.ApiTokenAuthentication",  # knox: hashed, expiring
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 25,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    # One error shape for every API answer: {"error": {"status", "code", "message", ...}}.
    "EXCEPTION_HANDLER": "cases.api_errors.api_exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Spine X-ray screening API",
    "DESCRIPTION": "Cases, radiographs, predictions and reviews. A decision aid, not a diagnosis.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # Several models have a `status`; name each enum after its choices class.
    "ENUM_NAME_OVERRIDES": {
        "CaseStatusEnum": "cases.models.CaseStatus",
        "PredictionStatusEnum": "inference.models.PredictionStatus",
        "ModelVersionStatusEnum": "registry.models.ModelVersionStatus",
        "TrainingRunStatusEnum": "training.models.TrainingRunStatus",
    },
}

# Celery. The default broker needs no external server: Celery's filesystem transport under
# CELERY_FS_ROOT. Production sets CELERY_BROKER_URL=redis://...
CELERY_FS_ROOT = Path(env("CELERY_FS_ROOT", default=str(BASE_DIR / "var" / "celery")))
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    for _sub in ("out", "processed", "control"):
        (CELERY_FS_ROOT / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # Without it kombu writes its exchange tables to ./control, i.e. wherever the worker starts.
        "control_folder": str(CELERY_FS_ROOT / "control"),
        "data_folder_in": str(CELERY_FS_ROOT / "out"),
        "data_folder_out": str(CELERY_FS_ROOT / "out"),
        "processed_folder": str(CELERY_FS_ROOT / "processed"),
        "store_processed": False,
        # The transport polls its folder; kombu's default 1 s would add up to a second to every
        # upload's answer; listing a near-empty folder five times a second is cheap.
        "polling_interval": 0.2,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
# The database row is the state of record, not the result backend.
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Two queues, so that a worker can be given to each: predictions (the default queue) must never
# wait behind a training run.
CELERY_TASK_ROUTES = {"training.tasks.*": {"queue": "training"}}
CELERY_TASK_DEFAULT_QUEUE = "inference"
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = TIME_ZONE

# Model registry / training data.
DEFAULT_MODEL_PATH = Path(env("DEFAULT_MODEL_PATH", default=str(BASE_DIR / "models" / "default.pt")))
DEFAULT_LANDMARK_MODEL_PATH = Path(
    env("DEFAULT_LANDMARK_MODEL_PATH", default=str(BASE_DIR / "models" / "landmarks.pt"))
)
TRAINING_BASE_DATA_DIR = env("TRAINING_BASE_DATA_DIR", default=str(BASE_DIR.parent / "shared" / "data" / "fraiwan"))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    # WeasyPrint logs each rendering step at INFO (seven lines per printed report).
    "loggers": {"axes": {"level": "WARNING"}, "weasyprint": {"level": "WARNING"}},
}

# --- Inference and review (issue 4) -------------------------------------------------------------
# Task limits: the broker's visibility timeout must exceed INFERENCE_TASK_TIME_LIMIT, and the sweep's
# INFERENCE_STUCK_AFTER_SECONDS must exceed it too, so a live run is never re-queued.
INFERENCE_TASK_SOFT_TIME_LIMIT = env.int("INFERENCE_TASK_SOFT_TIME_LIMIT", default=60)
INFERENCE_TASK_TIME_LIMIT = env.int("INFERENCE_TASK_TIME_LIMIT", default=90)
INFERENCE_TASK_MAX_RETRIES = env.int("INFERENCE_TASK_MAX_RETRIES", default=5)
INFERENCE_MAX_ATTEMPTS = env.int("INFERENCE_MAX_ATTEMPTS", default=5)
INFERENCE_STUCK_AFTER_SECONDS = env.int("INFERENCE_STUCK_AFTER_SECONDS", default=600)
INFERENCE_SWEEP_EVERY_SECONDS = env.int("INFERENCE_SWEEP_EVERY_SECONDS", default=120)
INFERENCE_TORCH_THREADS = env.int("INFERENCE_TORCH_THREADS", default=2)
INFERENCE_REGISTER_DEFAULT_ON_MIGRATE = env.bool("INFERENCE_REGISTER_DEFAULT_ON_MIGRATE", default=True)
# A worker that consumes the inference queue loads the active model when it starts, not on the
# first upload (about 6 s on 2 cores).
INFERENCE_WORKER_WARM_UP = env.bool("INFERENCE_WORKER_WARM_UP", default=True)
# Reads that must agree before a label is confirmed; disagreement goes to an admin.
REVIEW_AGREEMENT_REQUIRED = env.int("REVIEW_AGREEMENT_REQUIRED", default=1)
# Share of radiographs held out into the evaluation set when first confirmed (by id hash).
REVIEW_EVALUATION_SHARE = env.float("REVIEW_EVALUATION_SHARE", default=0.2)
CELERY_BEAT_SCHEDULE = {
    "inference-sweep-stuck-predictions": {
        "task": "inference.tasks.predictions_sweep",
        "schedule": float(INFERENCE_SWEEP_EVERY_SECONDS),
    },
}
# --- end inference and review ---------------------------------------------------------------------

# --- Training runs and promotion (issue 5) -----------------------------------------------------
# Gate: a candidate is auto-activated only if its macro-F1 on the evaluation set is not lower
# than the active model's by more than this, and no class's sensitivity falls by more than that.
TRAINING_PROMOTION_MAX_F1_DROP = env.float("TRAINING_PROMOTION_MAX_F1_DROP", default=0.01)
TRAINING_PROMOTION_MAX_SENSITIVITY_DROP = env.float("TRAINING_PROMOTION_MAX_SENSITIVITY_DROP", default=0.02)
# ...and only if it calls at most this share of the (in-distribution) evaluation set OOD.
TRAINING_PROMOTION_MAX_OOD_FLAG_RATE = env.float("TRAINING_PROMOTION_MAX_OOD_FLAG_RATE", default=0.10)
# ...and only if that share is at most this much above the active model's (the outlier-rate margin).
# The same margin, with the class set and the gate, decides whether an admin needs an override
# to activate a candidate (registry.risks).
TRAINING_PROMOTION_MAX_OOD_FLAG_RATE_RISE = env.float("TRAINING_PROMOTION_MAX_OOD_FLAG_RATE_RISE", default=0.02)
# A candidate that passes the gate is activated by the run itself only when this is on; by default
# it waits for an admin, who sees what would change.
TRAINING_AUTO_ACTIVATE = env.bool("TRAINING_AUTO_ACTIVATE", default=False)
# A run refuses to start (and fails) when any class has fewer films than this, counting the base
# data folder and the confirmed radiographs training may use.
TRAINING_MIN_FILMS_PER_CLASS = env.int("TRAINING_MIN_FILMS_PER_CLASS", default=20)
# Clinicians see a dated notice of every change of the active model for this many days.
MODEL_CHANGE_NOTICE_DAYS = env.int("MODEL_CHANGE_NOTICE_DAYS", default=14)
# Patient-grouped share of the base data folder held out as the fixed evaluation set.
TRAINING_BASE_EVALUATION_SHARE = env.float("TRAINING_BASE_EVALUATION_SHARE", default=0.2)
TRAINING_EVALUATION_BOOTSTRAP = env.int("TRAINING_EVALUATION_BOOTSTRAP", default=200)
TRAINING_TASK_SOFT_TIME_LIMIT = env.int("TRAINING_TASK_SOFT_TIME_LIMIT", default=3300)
TRAINING_TASK_TIME_LIMIT = env.int("TRAINING_TASK_TIME_LIMIT", default=3600)
# A running run silent this long (its worker died) is abandoned when an admin cancels it.
TRAINING_STALE_AFTER_SECONDS = env.int("TRAINING_STALE_AFTER_SECONDS", default=900)
TRAINING_PROGRESS_EVERY_SECONDS = env.float("TRAINING_PROGRESS_EVERY_SECONDS", default=2.0)
TRAINING_TORCH_THREADS = env.int("TRAINING_TORCH_THREADS", default=2)
TRAINING_PRETRAINED = env.bool("TRAINING_PRETRAINED", default=True)
# Defaults of the admin's hyper-parameter form/API (bounded in training.runs.services).
TRAINING_DEFAULT_HYPERPARAMETERS = env.json("TRAINING_DEFAULT_HYPERPARAMETERS", default={})

# --- Landmark (Cobb angle) training runs (issue 13, point 4) -----------------------------------
# The shared AASCE folder (labels.csv + images); a landmark run refuses to start without it.
TRAINING_LANDMARK_DATA_DIR = env(
    "TRAINING_LANDMARK_DATA_DIR", default=str(BASE_DIR.parent / "shared" / "data" / "aasce")
)
# The fixed, patient-grouped evaluation part: this `fold` of labels.csv, plus this share of the
# reviewer-corrected films' patients (chosen by a hash of the patient, so it never reshuffles).
TRAINING_LANDMARK_EVALUATION_FOLD = env.int("TRAINING_LANDMARK_EVALUATION_FOLD", default=0)
TRAINING_LANDMARK_CORRECTED_EVALUATION_SHARE = env.float(
    "TRAINING_LANDMARK_CORRECTED_EVALUATION_SHARE", default=0.2
)
# Gate against the active landmark model: the largest angle's MAE may rise by at most this many
# degrees, and the share of films measured may fall by at most this much.
TRAINING_LANDMARK_PROMOTION_MAX_MAE_RISE = env.float("TRAINING_LANDMARK_PROMOTION_MAX_MAE_RISE", default=0.5)
TRAINING_LANDMARK_PROMOTION_MAX_MEASURED_DROP = env.float(
    "TRAINING_LANDMARK_PROMOTION_MAX_MEASURED_DROP", default=0.02
)
# Defaults of the landmark run's hyper-parameters (bounded in training.runs.hyperparameters).
TRAINING_LANDMARK_DEFAULT_HYPERPARAMETERS = env.json("TRAINING_LANDMARK_DEFAULT_HYPERPARAMETERS", default={})
# --- end training runs -------------------------------------------------------------------------

# --- Accounts: tokens, sessions, second factor, client address (issue 10, point 5) -------------
INSTALLED_APPS += [
    "knox",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "accounts",
]
# django-otp reads the verified device from the session: right after authentication.
MIDDLEWARE.insert(
    MIDDLEWARE.index("django.contrib.auth.middleware.AuthenticationMiddleware") + 1,
    "django_otp.middleware.OTPMiddleware",
)
MIDDLEWARE.insert(
    MIDDLEWARE.index("django_otp.middleware.OTPMiddleware") + 1,
    "accounts.middleware.SecondFactorMiddleware",
)
# API tokens: django-rest-knox stores a SHA-512 digest only; each token expires.
KNOX_TOKEN_MODEL = "accounts.ApiToken"
# knox's own migrations create its (here swapped-out) table anyway; that orphan table would hold a
# foreign key to auth_user that `flush` does not know about. Our token table is accounts' own.
MIGRATION_MODULES = {"knox": None}
API_TOKEN_TTL_HOURS = env.float("API_TOKEN_TTL_HOURS", default=8)
REST_KNOX = {
    "TOKEN_TTL": timedelta(hours=API_TOKEN_TTL_HOURS),
    "AUTH_HEADER_PREFIX": "Token",  # clients keep sending `Authorization: Token <key>`
    "AUTO_REFRESH": False,
}
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = {
    "auth_token": env("API_TOKEN_THROTTLE_RATE", default="10/minute"),
}
# Sessions end after this many idle hours (the expiry moves on with every request).
SESSION_IDLE_HOURS = env.float("SESSION_IDLE_HOURS", default=8)
SESSION_COOKIE_AGE = int(SESSION_IDLE_HOURS * 3600)
SESSION_SAVE_EVERY_REQUEST = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
# Reverse proxies in front of the app that append to X-Forwarded-For (compose: nginx, so 1).
# 0 (the default, no proxy) trusts only the socket address. Axes and the DRF throttles agree.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
AXES_CLIENT_IP_CALLABLE = "accounts.client_ip.client_ip"
REST_FRAMEWORK["NUM_PROXIES"] = TRUSTED_PROXY_COUNT
# Second factor (django-otp TOTP) for admins. Self-enrolment: an admin without a device sets one
# up after their password; off, `manage.py totp_enrol USER` is the only way to get one.
ACCOUNTS_TOTP_SELF_ENROLMENT = env.bool("ACCOUNTS_TOTP_SELF_ENROLMENT", default=True)
OTP_TOTP_ISSUER = env("OTP_TOTP_ISSUER", default="Spine X-ray screening")
OTP_ADMIN_HIDE_SENSITIVE_DATA = True  # the admin never shows TOTP secrets or their QR codes
# Throttle counters (DRF) live in the cache: shared by every worker process when CACHE_URL is Redis.
CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://")}
# --- end accounts -------------------------------------------------------------------------------

# --- Deploy defaults: static files, health, API docs, Content-Security-Policy (issue 10, point 8) -
# WhiteNoise serves static files straight from the app folders too (finders), so the embedded
# profile works with DJANGO_DEBUG=False whether or not collectstatic has run. Production
# overrides this with the hashed manifest storage and refuses to start without its manifest.
WHITENOISE_USE_FINDERS = True
# Answered before host validation and the HTTPS redirect: a probe from inside the compose network
# (Host: localhost, plain HTTP) works whatever DJANGO_ALLOWED_HOSTS holds.
MIDDLEWARE.insert(0, "scoliosis_portal.health.HealthCheckMiddleware")
INSTALLED_APPS += ["csp", "drf_spectacular_sidecar"]
MIDDLEWARE.insert(MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1,
                  "csp.middleware.CSPMiddleware")
# The schema and its docs UI need a login; the UI's files come from drf-spectacular-sidecar.
SPECTACULAR_SETTINGS.update({
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
})
# django-csp 4: no inline script and no script from elsewhere on any page. Inline styles stay
# allowed (the Swagger UI page and two templates use them): injected styles cannot run script.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:", "blob:"],
        "connect-src": ["'self'"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}
# --- end deploy defaults ------------------------------------------------------------------------

# --- Patient privacy (issue 10: reviewers, blind reading, access log) ---------------------------
# Blind reading: a reviewer sees the model's answer on a film only after saving their own read.
# Server-wide; no request parameter switches it off.
REVIEW_BLIND_READING = env.bool("REVIEW_BLIND_READING", default=True)
# Every successful read of patient data is appended to the access log (cases.audit). Placed just
# before AxesMiddleware, which must stay last.
_AXES_MIDDLEWARE = "axes.middleware.AxesMiddleware"
MIDDLEWARE = [
    *(m for m in MIDDLEWARE if m != _AXES_MIDDLEWARE),
    "cases.audit.AccessLogMiddleware",
    *([_AXES_MIDDLEWARE] if _AXES_MIDDLEWARE in MIDDLEWARE else []),
]
# History rows are evidence: the admin shows them but never reverts to them (cases.admin also
# refuses the revert POST, which this setting alone only hides).
SIMPLE_HISTORY_REVERT_DISABLED = True
# --- end patient privacy ------------------------------------------------------------------------
