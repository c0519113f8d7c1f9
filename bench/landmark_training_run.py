"""An admin's landmark training run through the platform, end to end, on the AASCE films.

What an admin gets from "Start a landmark training run" with the defaults: the run row, a real
Celery worker on the `training` queue (`-P solo`, torch with 2 threads), the shared AASCE folder
(481 films: the evaluation part is fold 0, the rest trains), a warm start from the active landmark
model (the shipped `models/landmarks.pt`, registered as on a fresh install), the candidate and the
active model evaluated on the same evaluation films, and the gate's decision.

1. a fresh database `scoliosis_landmark_run_bench`, migrated, the shipped landmark model active;
2. an admin starts a landmark run (`training_run_start`, as the page and the API do), with the
   default hyper-parameters unless `--minutes` is given;
3. the worker trains, evaluates and registers; the bench polls the row until it ends.

Prints and writes (bench/out/landmark_training_run.json) the wall clock from queued to finished
(the issue's target: <= 45 minutes on 2 cores), the loop's steps and epochs, the dataset counts,
candidate and active figures on the evaluation part, and the gate's summary.

Run:  .venv/bin/python bench/landmark_training_run.py [--minutes 35]
Env:  BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/scoliosis_landmark_run_bench),
      BENCH_BROKER_URL (default redis://127.0.0.1:6379/12), BENCH_LANDMARK_DATA (default ../shared/data/aasce).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.processes import process_groups_stop  # noqa: E402 - needs the checkout on the path

DB_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/scoliosis_landmark_run_bench")
BROKER = os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/12")
DATA = Path(os.environ.get("BENCH_LANDMARK_DATA", ROOT.parent / "shared" / "data" / "aasce"))
MEDIA = Path(tempfile.mkdtemp(prefix="bench-landmark-run-media-"))
OUT = ROOT / "bench" / "out" / "landmark_training_run.json"
FINISHED = {"succeeded", "failed", "cancelled"}
REPORTED = ("n", "measured", "measured_share", "largest_mae", "largest_mae_n", "smape", "not_measured_reasons")

os.environ.update({
    "DJANGO_SETTINGS_MODULE": "tests.inference.worker_settings",
    "DATABASE_URL": DB_URL,
    "CELERY_BROKER_URL": BROKER,
    "TEST_MEDIA_ROOT": str(MEDIA),
    "TEST_VISIBILITY_TIMEOUT": "7200",
    "TRAINING_LANDMARK_DATA_DIR": str(DATA),
    "TRAINING_TORCH_THREADS": "2",
})


def seed_platform() -> object:
    """A fresh database with the shipped landmark model active; returns an admin user."""
    from bench.platform_setup import fresh_schema

    fresh_schema(db_url=DB_URL, broker_url=BROKER)
    from registry.models import ModelKind
    from registry.services import model_version_register_default
    from tests.inference.support import make_user

    if model_version_register_default(kind=ModelKind.LANDMARKS) is None:
        raise SystemExit("models/landmarks.pt is missing: nothing to warm-start from or compare with")
    return make_user("bench-admin", "admin", is_staff=True, is_superuser=True)


def wait_for(run_id: int, poll_s: float = 20.0):
    from training.models import TrainingRun

    last = ""
    while True:
        run = TrainingRun.objects.get(pk=run_id)
        line = (run.log_tail or "").strip().splitlines()[-1:] or [""]
        if line[0] != last:
            last = line[0]
            print(f"[{time.strftime('%H:%M:%S')}] {run.status} {run.progress:.0%} {last}", flush=True)
        if run.status in FINISHED:
            return run
        time.sleep(poll_s)


def metrics_of(side: dict | None) -> dict | None:
    if not side:
        return None
    metrics = side.get("metrics") or {}
    return {"name": side.get("name"), **{k: metrics[k] for k in REPORTED if k in metrics}}


def summary(run) -> dict:
    evaluation = run.evaluation or {}
    history = run.history or []
    last = history[-1] if history else {}
    return {
        "status": run.status, "error": run.error,
        "hyperparameters": run.hyperparameters, "dataset": run.dataset,
        "minutes_queued_to_finished": round((run.finished_at - run.created_at).total_seconds() / 60, 2),
        "minutes_started_to_finished": round((run.finished_at - run.started_at).total_seconds() / 60, 2),
        "loop": {"epochs": last.get("epoch"), "steps": last.get("steps"), "seconds": last.get("seconds"),
                 "last_loss": last.get("loss")},
        "candidate": metrics_of(evaluation.get("candidate")),
        "active": metrics_of(evaluation.get("active")),
        "gate": (evaluation.get("gate") or {}).get("summary"),
        "log_tail": (run.log_tail or "").splitlines()[-12:],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, help="the run's time budget (default: the recipe's)")
    args = parser.parse_args()
    if not (DATA / "labels.csv").is_file():
        raise SystemExit(f"no AASCE folder at {DATA} (labels.csv missing)")
    admin = seed_platform()
    from bench.platform_setup import start_training_worker
    from registry.models import ModelKind
    from training.runs.services import training_run_start

    worker = start_training_worker(MEDIA / "worker.log", "bench-landmarks")
    try:
        hp = {"minutes": args.minutes} if args.minutes else None
        run = training_run_start(user=admin, kind=ModelKind.LANDMARKS, hyperparameters=hp)
        result = summary(wait_for(run.pk))
    finally:
        process_groups_stop(worker)
    result["worker"] = "celery -P solo -Q training, torch 2 threads, nothing else scheduled by the bench"
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2, default=str))
    print(json.dumps(result, indent=2, default=str))


if __name__ == "__main__":
    main()
