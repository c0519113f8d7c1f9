"""Resident memory a worker pays for the two engine models: the classifier (with Grad-CAM) and the
landmark model (with its overlay), each loaded and run on a few AASCE films, in both orders.

Each order runs in its own fresh process (``torch`` imported, no model yet: the baseline), so the
figures are MB above a bare-torch process, each also after the malloc_trim the platform's worker makes
after a prediction (``inference.runtime.release_freed_memory``). Prints one line per order, for example

    classifier, then landmarks: classifier loaded +50/+50, classifier 5 films +334/+120, ...

and the median time of one film through both models (classify + Grad-CAM + measure + overlay).

    .venv/bin/python bench/worker_memory.py [--films 5] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from bench.engine_speed import rss_mb  # noqa: E402 - needs the checkout on the path

DATA = REPO.parent / "shared" / "data" / "aasce" / "images"
ORDERS = {"cl": "classifier, then landmarks", "lc": "landmarks, then classifier"}


def one_order(order: str, films: list[Path], threads: int) -> dict:
    """Runs in the child process: load and run the models in ``order``, recording RSS after each."""
    import torch

    from inference.engine.landmark_predictor import LandmarkPredictor
    from inference.engine.predictor import Predictor
    from inference.runtime import release_freed_memory

    def mark(name: str) -> None:
        before_trim = rss_mb() - base
        release_freed_memory(min_interval_s=0.0)
        marks.append((name, before_trim, rss_mb() - base))

    torch.set_num_threads(threads)
    base = rss_mb()
    marks, models = [], {}
    for part in order:
        if part == "c":
            models["c"] = Predictor.from_checkpoint(REPO / "models" / "default.pt", num_threads=threads)
            mark("classifier loaded")
            for film in films:
                models["c"].predict(film, gradcam=True)
            mark(f"classifier {len(films)} films")
        else:
            models["l"] = LandmarkPredictor.from_checkpoint(REPO / "models" / "landmarks.pt")
            mark("landmarks loaded")
            for film in films:
                models["l"].measure(film, overlay=True)
            mark(f"landmarks {len(films)} films")
    times = []
    for film in films:
        start = time.perf_counter()
        models["c"].predict(film, gradcam=True)
        models["l"].measure(film, overlay=True)
        times.append((time.perf_counter() - start) * 1000)
    return {"base_mb": round(base), "marks": [(name, round(mb), round(trimmed)) for name, mb, trimmed in marks],
            "both_models_ms_median": round(statistics.median(times))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--films", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--child", choices=sorted(ORDERS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    films = sorted(args.data.glob("*.jpg"))[: args.films]
    if not films:
        sys.exit(f"no AASCE films under {args.data}: pass --data")
    if args.child:
        print(json.dumps(one_order(args.child, films, args.threads)))
        return
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    for order, title in ORDERS.items():
        out = subprocess.run([sys.executable, __file__, "--child", order, "--films", str(args.films),
                              "--threads", str(args.threads), "--data", str(args.data)],
                             env=env, check=True, capture_output=True, text=True).stdout
        result = json.loads(out.strip().splitlines()[-1])
        marks = ", ".join(f"{name} +{mb}/+{trimmed}" for name, mb, trimmed in result["marks"])
        print(f"{title}: {marks} MB above bare torch ({result['base_mb']} MB), before/after the worker's trim; "
              f"one film through both models {result['both_models_ms_median']} ms median")


if __name__ == "__main__":
    main()
