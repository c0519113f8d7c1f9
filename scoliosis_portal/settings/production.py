"""Production profile (docker-compose): no default for secrets, fails loudly without them."""
from django.core.exceptions import ImproperlyConfigured

from scoliosis_portal.settings.base import *  # noqa: F401,F403
from scoliosis_portal.settings.base import (
    CONTENT_SECURITY_POLICY,
    REST_FRAMEWORK,
    STORAGES,
    database_tuned,
    env,
)

SECRET_KEY = env("DJANGO_SECRET_KEY")
if len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 5:
    raise ImproperlyConfigured(
        "DJANGO_SECRET_KEY is empty or too weak: set it to a long random string, e.g. the output of "
        "`python -c \"import secrets; print(secrets.token_urlsafe(50))\"`."
    )
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS")
DATABASES = {"default": database_tuned(env.db("DATABASE_URL"))}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
CELERY_BROKER_URL = env("CELERY_BROKER_URL")

# Behind the compose stack's nginx, the only published port: gunicorn is reachable from the
# compose network alone, and nginx overwrites X-Forwarded-Proto on every request, so the header
# can only have come from it.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
# nginx appends the client's address to X-Forwarded-For: one trusted proxy.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=1)
REST_FRAMEWORK = {**REST_FRAMEWORK, "NUM_PROXIES": TRUSTED_PROXY_COUNT}
ACCOUNTS_TOTP_SELF_ENROLMENT = env.bool("ACCOUNTS_TOTP_SELF_ENROLMENT", default=False)
# Hashed file names (long cache lifetimes); wsgi.py refuses to start without their manifest.
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"}}
WHITENOISE_USE_FINDERS = False
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {**CONTENT_SECURITY_POLICY["DIRECTIVES"], "upgrade-insecure-requests": True},
}
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=True)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
