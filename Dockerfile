# Production image: the web app (gunicorn + whitenoise) and the Celery workers share it.
# The code and static files belong to root and are read-only to the user the app runs as;
# only /app/var (Celery beat's schedule) and /tmp are writable by it.
FROM python:3.11.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    MALLOC_ARENA_MAX=2 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    MPLCONFIGDIR=/tmp/matplotlib \
    DJANGO_SETTINGS_MODULE=scoliosis_portal.settings.production

RUN apt-get update \
    && apt-get install -y --no-install-recommends libgl1 libglib2.0-0 curl \
        libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 libfontconfig1 fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*

# An unprivileged system user with no home and no login shell.
RUN useradd --system --uid 10001 --user-group --no-create-home --home-dir /nonexistent \
    --shell /usr/sbin/nologin portal
WORKDIR /app

COPY requirements.txt .
RUN pip install -r requirements.txt

# Owned by root (COPY's default): the app cannot change its own code, templates or models.
COPY . .
# collectstatic needs settings but no secrets of value: build-time placeholders only.
RUN DJANGO_SECRET_KEY=build-only-placeholder-never-used-at-run-time-0123456789 \
    DJANGO_ALLOWED_HOSTS=localhost \
    DATABASE_URL=sqlite:////tmp/build.sqlite3 CELERY_BROKER_URL=memory:// \
    python manage.py collectstatic --noinput -v 0 \
    && rm -f /tmp/build.sqlite3 \
    && mkdir -p /app/var \
    && chown portal:portal /app/var \
    && chmod -R go-w /app

USER portal
EXPOSE 8000
CMD ["gunicorn", "scoliosis_portal.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--timeout", "120", "--access-logfile", "-"]
