"""Upload-to-prediction latency, throughput and worker memory, with one real worker process.

What it does (real PostgreSQL, real Redis, a real `celery worker -P threads -c 2` subprocess,
the platform's own upload service, the real Predictor with Grad-CAM):

1. a fresh database `scoliosis_inference_bench`, the model registered and activated
   (models/default.pt if present, else an untrained EfficientNet-Lite0 checkpoint of the same
   size and input, which costs the same to run);
2. one cold upload (the worker loads the model), then 20 single uploads on an idle worker:
   latency median / p95 from the start of the upload call to the prediction row succeeding;
3. 20 uploads at once (20 threads): latency median / p95 / max, and a check that none is lost or
   duplicated;
4. the worker's resident memory after 10 predictions and after 500, and its throughput in
   radiographs per minute over the bulk run.

Run:  .venv/bin/python bench/inference_latency.py [--total 500]
Env:  BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/scoliosis_inference_bench),
      BENCH_BROKER_URL (default redis://127.0.0.1:6379/14), BENCH_DATA (default ../shared/data/fraiwan).
Writes bench/out/inference_latency.json.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DB_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/scoliosis_inference_bench"
)
BROKER = os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/14")
DATA = Path(os.environ.get("BENCH_DATA", ROOT.parent / "shared" / "data" / "fraiwan"))
MEDIA = Path(tempfile.mkdtemp(prefix="bench-media-"))

os.environ.update(
    {
        # The test worker settings: shared DB and media folder between this process and the
        # worker subprocess, production-like visibility timeout.
        "DJANGO_SETTINGS_MODULE": "tests.inference.worker_settings",
        "DATABASE_URL": DB_URL,
        "CELERY_BROKER_URL": BROKER,
        "TEST_MEDIA_ROOT": str(MEDIA),
        "TEST_VISIBILITY_TIMEOUT": "3600",
        "INFERENCE_TORCH_THREADS": "2",
    }
)
# glibc gives every thread its own malloc arena; with a threads pool and images of many sizes
# the arenas fragment and RSS creeps. BENCH_MALLOC_ARENA_MAX (default 2) caps them.
os.environ.setdefault("MALLOC_ARENA_MAX", os.environ.get("BENCH_MALLOC_ARENA_MAX", "2"))


def pctl(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def summary(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "median_s": round(statistics.median(values), 3),
        "p95_s": round(pctl(values, 0.95), 3),
        "max_s": round(max(values), 3),
    }


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def images() -> list[tuple[str, bytes]]:
    files = sorted(p for p in DATA.rglob("*") if p.suffix.lower() in {".jpg", ".jpeg", ".png"})
    if files:
        return [(f"img{i}{p.suffix.lower()}", p.read_bytes()) for i, p in enumerate(files)]
    from tests.images import png_bytes

    return [(f"synthetic{i}.png", png_bytes(width=600, height=1200, seed=i)) for i in range(300)]


def setup() -> tuple[object, str]:
    """A fresh database with the shipped (or an untrained, same-cost) model active; returns the
    bench clinician and where the model came from."""
    from bench.platform_setup import fresh_platform

    model_source = fresh_platform(db_url=DB_URL, broker_url=BROKER, model_name="bench", input_size=256)
    from tests.inference.support import make_user

    return make_user("bench-clinician", "clinician"), model_source


def start_worker() -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "scoliosis_portal", "worker", "-P", "threads",
         "-c", "2", "-Q", "celery", "-n", "bench@%h", "--without-gossip", "--without-mingle",
         "--without-heartbeat", "--loglevel", "WARNING"],
        cwd=ROOT, env={**os.environ}, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=open(MEDIA / "worker.log", "w"),
    )


class LatencyBench:
    """Uploads through the real service and waits for the worker's predictions."""

    def __init__(self, user, worker: subprocess.Popen) -> None:
        self.user, self.worker, self.pool = user, worker, images()
        self.i, self.case = 0, None

    def new_case(self):
        from cases.models import Case

        return Case.objects.create(owner=self.user, patient_reference=f"BENCH-{time.time_ns()}")

    def next_file(self) -> tuple[str, bytes]:
        # Every image once per case (the same bytes twice in one case are refused as duplicates).
        if self.case is None or self.i % len(self.pool) == 0:
            self.case = self.new_case()
        name, raw = self.pool[self.i % len(self.pool)]
        self.i += 1
        return name, raw

    def upload(self, case, name: str, raw: bytes) -> tuple[int, float]:
        from django.core.files.uploadedfile import SimpleUploadedFile

        from cases.services import radiograph_upload

        started = time.perf_counter()
        ct = "image/png" if name.endswith(".png") else "image/jpeg"
        [radiograph] = radiograph_upload(user=self.user, case=case, files=[SimpleUploadedFile(name, raw, ct)])
        return radiograph.pk, started

    def upload_next(self) -> tuple[int, float]:
        name, raw = self.next_file()
        return self.upload(self.case, name, raw)

    def wait_done(self, radiograph_ids: list[int], timeout: float = 600, on_progress=None) -> dict[int, float]:
        from inference.models import Prediction

        done: dict[int, float] = {}
        deadline = time.perf_counter() + timeout
        while len(done) < len(radiograph_ids) and time.perf_counter() < deadline:
            if on_progress is not None:
                on_progress(len(done))
            finished = Prediction.objects.filter(
                radiograph_id__in=[r for r in radiograph_ids if r not in done],
                status__in=["succeeded", "failed"],
            ).values_list("radiograph_id", flat=True)
            now = time.perf_counter()
            for rid in finished:
                done[rid] = now
            time.sleep(0.01)
        return done

    def cold_and_singles(self, results: dict) -> None:
        """1. cold: the worker imports torch and loads the model on its first task;
        2. single uploads on an idle worker."""
        rid, started = self.upload_next()
        results["cold_first_prediction_s"] = round(self.wait_done([rid])[rid] - started, 3)
        singles = []
        for _ in range(20):
            rid, started = self.upload_next()
            singles.append(self.wait_done([rid])[rid] - started)
            if len(singles) == 9:  # the cold one + 9
                results["rss_mb_after_predictions"] = {"10": round(rss_mb(self.worker.pid), 1)}
        results["single_upload_latency"] = summary(singles)

    def burst(self, results: dict) -> None:
        """3. twenty at once."""
        from inference.models import Prediction

        burst_case = self.new_case()
        burst_files = [self.pool[i % len(self.pool)] for i in range(20)]

        def go(item):
            try:
                return self.upload(burst_case, *item)
            finally:
                from django.db import connection as c

                c.close()

        with ThreadPoolExecutor(20) as executor:
            sent = list(executor.map(go, burst_files))
        done = self.wait_done([rid for rid, _ in sent])
        ids = [rid for rid, _ in sent]
        rows = list(Prediction.objects.filter(radiograph_id__in=ids).values_list("radiograph_id", "status"))
        results["burst_20_latency"] = summary([done[rid] - started for rid, started in sent if rid in done])
        results["burst_20_integrity"] = {
            "uploads": len(ids),
            "predictions": len(rows),
            "distinct_radiographs": len({r for r, _ in rows}),
            "succeeded": sum(s == "succeeded" for _, s in rows),
        }

    def bulk(self, results: dict, total: int) -> None:
        """4. bulk: keep the worker busy up to `total` predictions, sampling its RSS."""
        from inference.models import Prediction

        done_so_far = Prediction.objects.filter(status="succeeded").count()
        t0 = time.perf_counter()
        bulk_ids = [self.upload_next()[0] for _ in range(total - done_so_far)]
        upload_s = time.perf_counter() - t0
        samples = results["rss_mb_after_predictions"]

        def sample(n_bulk_done: int) -> None:
            # RSS every 100 predictions: a plateau is allocator warm-up, a slope is a leak.
            done_total = done_so_far + n_bulk_done
            if done_total // 100 * 100 > max(int(k) for k in samples) and done_total % 100 < 10:
                samples[str(done_total)] = round(rss_mb(self.worker.pid), 1)

        done = self.wait_done(bulk_ids, timeout=3600, on_progress=sample)
        elapsed = max(done.values()) - t0
        samples[str(Prediction.objects.filter(status="succeeded").count())] = round(rss_mb(self.worker.pid), 1)
        results["bulk"] = {
            "predictions": len(done),
            "uploads_took_s": round(upload_s, 1),
            "wall_s": round(elapsed, 1),
            "throughput_per_minute": round(len(done) / elapsed * 60, 1),
            "failed": Prediction.objects.filter(status="failed").count(),
        }
        first, last = list(samples.values())[0], list(samples.values())[-1]
        results["rss_growth_percent"] = round((last - first) / first * 100, 1)


def worker_side_medians() -> dict[str, float]:
    from inference.models import Prediction

    timings = list(Prediction.objects.filter(status="succeeded").values_list("timings_ms", flat=True))
    keys = sorted({k for t in timings for k in t})
    return {k: round(statistics.median([t[k] for t in timings if k in t]), 1) for k in keys}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--total", type=int, default=500)
    args = parser.parse_args()

    user, model_source = setup()
    from django.db import connection

    worker = start_worker()
    bench = LatencyBench(user, worker)
    results: dict = {
        "model": model_source,
        "worker": "1 process, -P threads -c 2, torch 2 threads",
        "malloc_arena_max": os.environ.get("MALLOC_ARENA_MAX"),
        "load_average_at_start": os.getloadavg()[0],
    }
    try:
        bench.cold_and_singles(results)
        bench.burst(results)
        bench.bulk(results, args.total)
        results["worker_side_median_ms"] = worker_side_medians()
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=60)
        connection.close()
    out = ROOT / "bench" / "out" / "inference_latency.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
