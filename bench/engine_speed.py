"""CPU speed and memory of the Predictor (and optionally a full training run).

Measures, with a fixed thread count (default 2): median ms per image for ``predict`` and for
``predict(gradcam=True)`` on real radiographs (file paths, so decoding is included), resident
memory after loading the model, and resident memory across 500 Grad-CAM calls (must stay flat),
split into anonymous and file-backed pages, with the peak and the figure after glibc's malloc_trim.

    .venv/bin/python bench/engine_speed.py [--checkpoint models/default.pt] [--train]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
OUT = ROOT / "bench" / "out"


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def rss_mb() -> float:
    return _status_mb("VmRSS")


def peak_rss_mb() -> float:
    return _status_mb("VmHWM")  # the high-water mark


def memory_mb() -> dict[str, float]:
    """RSS split into anonymous memory (heap, tensors: each process's own) and file-backed pages.

    ``file_backed`` is almost all code and read-only data of torch and the CUDA libraries, mapped
    from the page cache: a second worker process on the same host maps the same pages (they then
    show up as ``shared_clean``), so one more worker costs about ``anonymous``, not ``rss``.
    """
    fields = {"Rss": "rss", "Pss": "pss", "Private_Clean": "private", "Private_Dirty": "private",
              "Shared_Clean": "shared_clean", "Anonymous": "anonymous"}
    out: dict[str, float] = {}
    for line in Path("/proc/self/smaps_rollup").read_text().splitlines()[1:]:
        name, value, *_ = line.split()
        key = fields.get(name.rstrip(":"))
        if key:
            out[key] = round(out.get(key, 0.0) + int(value) / 1024, 1)
    out["file_backed"] = round(out.get("rss", 0.0) - out.get("anonymous", 0.0), 1)
    return out


def rss_after_trim() -> dict[str, float] | None:
    """Memory after the trim the platform's worker makes; None without glibc's malloc_trim."""
    from inference.runtime import release_freed_memory

    return memory_mb() if release_freed_memory(min_interval_s=0.0) else None


def default_data_dir() -> Path:
    return Path(os.environ.get("SPINE_DATA_DIR", ROOT.parent / "shared" / "data" / "fraiwan"))


def image_paths(limit: int = 30) -> list[Path]:
    from training.engine import samples_from_folder

    samples = samples_from_folder(default_data_dir())
    step = max(1, len(samples) // limit)
    return [Path(s.source) for s in samples[::step]][:limit]


def time_calls(predictor, paths, gradcam: bool, repeats: int) -> dict[str, float]:
    times, stages = [], {}
    for _ in range(repeats):
        for path in paths:
            t = time.perf_counter()
            result = predictor.predict(path, gradcam=gradcam)
            times.append((time.perf_counter() - t) * 1000)
            for k, v in result.timings_ms.items():
                stages.setdefault(k, []).append(v)
    return {"median_ms": statistics.median(times), "p90_ms": sorted(times)[int(0.9 * len(times))],
            **{f"median_{k}_ms": statistics.median(v) for k, v in stages.items()}}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--checkpoint", default=str(ROOT / "models" / "default.pt"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--gradcam-calls", type=int, default=500)
    ap.add_argument("--train", action="store_true", help="also time a full training run on all data")
    args = ap.parse_args()

    baseline = rss_mb()
    import torch

    memory = {"after_import_torch": memory_mb()}
    from inference.engine import Predictor

    memory["after_import_engine"] = memory_mb()  # timm, torchvision, pytorch-grad-cam and friends

    torch.set_num_threads(args.threads)
    t = time.perf_counter()
    predictor = Predictor.from_checkpoint(args.checkpoint, num_threads=args.threads)
    load_ms = (time.perf_counter() - t) * 1000
    paths = image_paths()
    predictor.predict(paths[0], gradcam=True)  # warm-up: first call allocates workspaces
    rss_loaded = rss_mb()
    memory["model_loaded_and_warm"] = memory_mb()
    report = {
        "threads": args.threads, "canvas_hw": predictor.params.canvas_shape,
        "architecture": predictor.metadata["architecture"], "n_images": len(paths),
        "load_ms": load_ms, "rss_mb_python_only": baseline, "rss_mb_model_loaded": rss_loaded,
        "memory_mb": memory,
        "predict": time_calls(predictor, paths, gradcam=False, repeats=3),
        "predict_gradcam": time_calls(predictor, paths, gradcam=True, repeats=2),
    }
    samples = []
    for i in range(args.gradcam_calls):
        predictor.predict(paths[i % len(paths)], gradcam=True)
        if i % 50 == 49:
            gc.collect()
            samples.append(round(rss_mb(), 1))
    report["rss_mb_during_gradcam_calls"] = samples
    report["peak_rss_mb"] = peak_rss_mb()  # VmHWM: the high-water mark, inside a Grad-CAM call
    # What the platform's worker gets back: it calls malloc_trim at most once a second
    # (inference.runtime.release_freed_memory); the freed autograd buffers of the last call go back.
    report["rss_mb_after_malloc_trim"] = rss_after_trim()
    report["rss_growth_mb_last_400_calls"] = samples[-1] - samples[1] if len(samples) > 2 else None
    report["training_seconds_recorded_in_checkpoint"] = predictor.metadata.get("training_seconds")
    if args.train:
        from training.engine import TrainConfig, samples_from_folder, train_model

        data = samples_from_folder(default_data_dir())
        t = time.perf_counter()
        train_model(data, None, TrainConfig(num_threads=args.threads, temperature=1.0))
        report["training_seconds_measured"] = time.perf_counter() - t
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "engine_speed.json").write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
