#!/usr/bin/env bash
# The embedded profile: SQLite, Celery's filesystem transport, a worker (with beat) beside the
# web server. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
# Fewer glibc malloc arenas keep a long-lived torch worker from growing (measured in bench/).
export MALLOC_ARENA_MAX=2
mkdir -p var
$PY manage.py migrate --noinput
$PY manage.py bootstrap_demo
$PY manage.py collectstatic --noinput -v 0

.venv/bin/celery -A scoliosis_portal worker -B -Q celery,training --concurrency 1 \
    --loglevel INFO -s var/celerybeat-schedule &
WORKER=$!
trap 'kill $WORKER 2>/dev/null; wait $WORKER 2>/dev/null' EXIT INT TERM
echo "Serving on http://127.0.0.1:8000 (Ctrl-C stops the web server and the worker)"
$PY manage.py runserver 127.0.0.1:8000 --noreload
