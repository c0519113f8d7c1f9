"""Patient-grouped cross-validation of the landmark model on the AASCE films (the ``fold`` column).

For each fold given with ``--folds``: train on the other folds within ``--time-budget`` seconds
(or reuse ``OUT/fold<k>.pt`` with ``--reuse``), then on the held-out fold report

- SMAPE of the three angles as the AASCE challenge scores it: sum over films of |pred - ref|
  over sum of (pred + ref), over all three angles, x 100 (films not measured count as 0 deg);
- MAE of the largest angle (measured films), also without the films whose reference corners have
  a right corner not right of its left one (two AASCE films, one at 156 deg); recall of >= 10 deg and specificity of < 10 deg;
- share of films measured;
- share of ``fraiwan/spondylolisthesis`` (lumbar-only, half lateral) said not measured, with
  the reasons; share of ``fraiwan/scoliosis`` films measured >= 10 deg;
- median latency of landmarks + angles for one film with 2 threads, and the training wall time.

    .venv/bin/python bench/landmarks_cv.py --folds 0 --time-budget 2100 --out var/landmarks_cv
    .venv/bin/python bench/landmarks_cv.py --folds 0 --reuse --out var/landmarks_cv   # evaluate only
    # continue an earlier fold-0 run (same folds held out) at a lower peak learning rate
    .venv/bin/python bench/landmarks_cv.py --folds 0 --train-only --init-from var/landmarks_cv/fold0-v2.pt \
        --lr 4e-4 --shuffle-seed 1 --time-budget 2100 --out var/landmarks_cv_warm
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from inference.engine.landmark_predictor import LandmarkPredictor  # noqa: E402
from training.engine.landmarks import LandmarkTrainConfig, samples_from_labels_csv, train_landmarks  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"


def smape(pred: np.ndarray, ref: np.ndarray) -> float:
    """The challenge's SMAPE over all films and all three angles, in percent."""
    return float(100 * np.abs(pred - ref).sum() / max((pred + ref).sum(), 1e-9))


def images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png"})


def reference_swapped(sample) -> bool:
    """Some vertebra's reference right corner is not right of its left one: a label error. Two AASCE
    films have one: L5's corners swapped (its reference angle is 156 deg) and L4's bottom corners
    collapsed onto one point."""
    corners = sample.points.reshape(17, 4, 2)
    return bool(((corners[:, 1, 0] <= corners[:, 0, 0]) | (corners[:, 3, 0] <= corners[:, 2, 0])).any())


def evaluate_fold(predictor: LandmarkPredictor, samples: list, data: Path) -> dict:
    pred, ref, measured, latencies, reasons = [], [], [], [], []
    for s in samples:
        t0 = time.perf_counter()
        r = predictor.measure(s.read())
        latencies.append((time.perf_counter() - t0) * 1000)
        m = r.measurement
        pred.append([m.pt, m.mt, m.tl] if m else [0.0, 0.0, 0.0])
        ref.append(list(s.angles))
        measured.append(r.measured)
        reasons.append(r.not_measured)
    pred, ref, measured = np.array(pred), np.array(ref), np.array(measured)
    swapped = np.array([reference_swapped(s) for s in samples])
    clean = measured & ~swapped
    big = ref[:, 0] >= 10
    called_big = pred[:, 0] >= 10
    out = {
        "films": len(samples),
        "smape_3_angles_pct": smape(pred, ref),
        "smape_measured_films_pct": smape(pred[measured], ref[measured]) if measured.any() else None,
        "largest_mae_deg": float(np.abs(pred[measured, 0] - ref[measured, 0]).mean()) if measured.any() else None,
        "largest_median_abs_err_deg": float(np.median(np.abs(pred[measured, 0] - ref[measured, 0]))) if measured.any() else None,
        "label_errors": int(sum(swapped)),
        "label_errors_measured": int((swapped & measured).sum()),
        "largest_mae_deg_without_label_errors": float(np.abs(pred[clean, 0] - ref[clean, 0]).mean()) if clean.any() else None,
        "recall_ge10": float((called_big & big & measured).sum() / max(big.sum(), 1)),
        "specificity_lt10": float(((~called_big) & (~big) & measured).sum() / max((~big).sum(), 1)) if (~big).any() else None,
        "n_lt10": int((~big).sum()),
        "measured_share": float(measured.mean()),
        "aasce_reasons": dict(Counter(x or "measured" for x in reasons)),
        # Which AP films were not measured, and how curved they are (the largest reference angle).
        "aasce_not_measured": [{"film": Path(str(s.image)).name, "reason": x, "largest_ref_deg": round(float(s.angles[0]), 1)}
                               for s, x in zip(samples, reasons, strict=True) if x],
        "median_ms_aasce": statistics.median(latencies),
    }
    spondy = [predictor.measure(p) for p in images_in(data / "fraiwan" / "spondylolisthesis")]
    out["spondylolisthesis_not_measured_share"] = float(np.mean([not r.measured for r in spondy]))
    out["spondylolisthesis_reasons"] = dict(Counter(r.not_measured or "measured" for r in spondy))
    scol = [predictor.measure(p) for p in images_in(data / "fraiwan" / "scoliosis")]
    out["scoliosis_measured_ge10_share"] = float(np.mean([r.measured and r.measurement.pt >= 10 for r in scol]))
    out["scoliosis_measured_share"] = float(np.mean([r.measured for r in scol]))
    out["scoliosis_reasons"] = dict(Counter(r.not_measured or "measured" for r in scol))
    return out


def latency(predictor: LandmarkPredictor, paths: list[Path], repeats: int = 20) -> dict:
    torch.set_num_threads(2)
    for p in paths[:3]:
        predictor.measure(p)
    times = []
    for i in range(repeats):
        t0 = time.perf_counter()
        predictor.measure(paths[i % len(paths)], overlay=True)
        times.append((time.perf_counter() - t0) * 1000)
    return {"median_ms_2_threads_with_overlay": statistics.median(times), "p90_ms": float(np.quantile(times, 0.9))}


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--out", type=Path, default=REPO / "var" / "landmarks_cv")
    parser.add_argument("--time-budget", type=float, default=35 * 60)
    parser.add_argument("--max-steps", type=int, default=None,
                        help="step budget: the schedule follows steps, so the run reproduces on a busy CPU "
                             "(--time-budget then only caps the wall clock)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--reuse", action="store_true", help="evaluate OUT/fold<k>.pt instead of training")
    parser.add_argument("--train-only", action="store_true")
    parser.add_argument("--init-from", type=Path, default=None,
                        help="warm start: load this earlier landmark checkpoint's weights before training")
    parser.add_argument("--lr", type=float, default=None, help="peak head learning rate (default: the recipe's)")
    parser.add_argument("--shuffle-seed", type=int, default=None,
                        help="batch order / augmentation seed (the validation split keeps the seed 0)")
    parser.add_argument("--severe-repeat", type=int, default=None,
                        help="times per epoch a training film with a >= 50 deg curve is drawn (default: the recipe's, 2)")
    return parser.parse_args()


def main() -> None:
    args = _arguments()
    torch.set_num_threads(args.threads)
    samples = samples_from_labels_csv(args.data / "aasce")
    args.out.mkdir(parents=True, exist_ok=True)
    report = {}
    for fold in args.folds:
        path = args.out / f"fold{fold}.pt"
        held = [s for s in samples if s.fold == fold]
        train = [s for s in samples if s.fold != fold]
        train_info = {}
        if not args.reuse:
            overrides = {"lr": args.lr} if args.lr is not None else {}
            if args.severe_repeat is not None:
                overrides["severe_repeat"] = args.severe_repeat
            config = LandmarkTrainConfig(time_budget_s=args.time_budget, max_steps=args.max_steps,
                                         num_threads=args.threads,
                                         init_checkpoint=str(args.init_from) if args.init_from else None,
                                         shuffle_seed=args.shuffle_seed, extra_metadata={"held_out_fold": fold},
                                         **overrides)
            result = train_landmarks(train, config, checkpoint=path, progress=lambda r: print(json.dumps(r), flush=True))
            train_info = {"training_wall_s": round(result.seconds, 1), "epochs": result.metadata["training"]["epochs_run"],
                          "validation": result.metadata["validation_metrics"]}
            print(json.dumps({"fold": fold, "trained": train_info}), flush=True)
        if args.train_only:
            continue
        rss_before = rss_mb()
        predictor = LandmarkPredictor.from_checkpoint(path, num_threads=args.threads)
        predictor.measure(Path(held[0].read()), overlay=True)
        rss_loaded = rss_mb()
        meta = predictor.metadata["training"]
        metrics = {"fold": fold, "train_films": meta["n_train"] + meta["n_validation"],
                   "training_loop_s": meta["train_loop_seconds"], "epochs": meta["epochs_run"], **train_info}
        metrics.update(evaluate_fold(predictor, held, args.data))
        metrics.update(latency(predictor, [Path(s.read()) for s in held]))
        metrics["rss_mb_before_load"] = round(rss_before, 1)
        metrics["extra_rss_mb_loaded_and_one_film"] = round(rss_loaded - rss_before, 1)
        metrics["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        report[fold] = metrics
        print(json.dumps(metrics), flush=True)
    if report:
        keys = ["smape_3_angles_pct", "largest_mae_deg", "recall_ge10", "measured_share",
                "spondylolisthesis_not_measured_share", "scoliosis_measured_ge10_share", "median_ms_2_threads_with_overlay"]
        print(json.dumps({"mean_over_folds": {k: float(np.mean([r[k] for r in report.values() if r[k] is not None]))
                                              for k in keys}}))
        (args.out / "report.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
