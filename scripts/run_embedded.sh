#!/usr/bin/env bash
# The embedded profile: SQLite, Celery's filesystem transport, and beside the web server one
# worker per queue, so that an upload is never read behind a training run:
#   - inference (with beat): predictions, at normal priority;
#   - training: one run at a time, niced so that the web server and the inference worker keep
#     the CPU they need while it trains.
# Ctrl-C stops all three. PORT picks the port (default 8000); EMBEDDED_VAR_DIR (default var/)
# holds the demo passwords and beat's schedule.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
CELERY=.venv/bin/celery
PORT="${PORT:-8000}"
VAR_DIR="${EMBEDDED_VAR_DIR:-var}"
# Fewer glibc malloc arenas keep a long-lived torch worker from growing (measured in bench/).
export MALLOC_ARENA_MAX=2
mkdir -p "$VAR_DIR"
$PY manage.py migrate --noinput
$PY manage.py bootstrap_demo --password-file "$VAR_DIR/demo-passwords.txt"
$PY manage.py collectstatic --noinput -v 0

PIDS=()
stop() {
    trap - EXIT INT TERM
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    # A worker's warm shutdown waits for its task; a training run can take minutes, so after
    # 15 s it gets a cold shutdown (the run's task is acknowledged late and is not lost).
    for _ in $(seq 15); do
        alive=0
        for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
        [ "$alive" = 0 ] && break
        sleep 1
    done
    for pid in "${PIDS[@]}"; do kill -QUIT "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap stop EXIT INT TERM

# One torch thread per prediction: the CPU is shared with training (and the web server), and
# torch's thread pool slows down badly when its threads are preempted. Measured on 2 cores at load
# average 11: one film with Grad-CAM took 0.75-1.2 s on one thread, 2.5-8 s on two.
INFERENCE_TORCH_THREADS="${INFERENCE_TORCH_THREADS:-1}" \
$CELERY -A scoliosis_portal worker -B -Q inference -n "inference@%h" --concurrency 1 \
    --loglevel INFO -s "$VAR_DIR/celerybeat-schedule" &
PIDS+=($!)
nice -n 10 $CELERY -A scoliosis_portal worker -Q training -n "training@%h" --concurrency 1 \
    --loglevel INFO &
PIDS+=($!)
echo "Serving on http://127.0.0.1:$PORT (Ctrl-C stops the web server and both workers)"
$PY manage.py runserver "127.0.0.1:$PORT" --noreload &
PIDS+=($!)
# Whichever stops first (Ctrl-C, or a crash) takes the others down with it.
wait -n "${PIDS[@]}"
