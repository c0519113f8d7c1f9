"""Judge not-measured limit rules offline on trained landmark checkpoints (the landmark model card's blind tests).

Each checkpoint (a ``bench/landmarks_cv.py`` fold model: its metadata names the held-out fold) is run
once over three sets of films: its own internal validation films (recomputed from its metadata, as
``bench/landmarks_rethreshold.py`` does), the AP films of its held-out fold, and the lumbar-only and
lateral films of ``fraiwan/spondylolisthesis``. The evidence is cached beside the checkpoint
(``<checkpoint>.evidence.npz``). Then each rule sets its limits from the serving limits (the
checkpoint's fitted ones plus the serving code's fixed bounds), the longest-step limit the checkpoint
fitted (read by serving until 2026-12-05) and the validation films only, and is judged on the held-out
films: AP films measured, MAE of the largest angle, lumbar/lateral films let in, and each film whose
decision differs from the serving limits', with the error it reads when measured. Write the rule and its
criterion down before looking at its models.

    .venv/bin/python bench/landmarks_limit_rules.py var/cv3/f0/fold0.pt var/cv3/f1/fold1.pt \\
        --rules serving fitted-longest-step median-longest-step
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from inference.engine.cobb import cobb_angles  # noqa: E402
from inference.engine.landmark_predictor import (  # noqa: E402
    LandmarkEvidence,
    LandmarkPredictor,
    MeasurabilityThresholds,
    canvas_to_image,
    not_measured_reason,
)
from inference.engine.preprocessing import decode_image, preprocess_with_box  # noqa: E402
from training.engine.landmarks import checkpoint_split, samples_from_labels_csv  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
PARTS = ("val", "held", "spondy")
FIELDS = ("corners", "centres", "confidence", "ood", "refined", "angles", "ref")


def longest_steps(evidence: list[LandmarkEvidence]) -> np.ndarray:
    return np.array([e.geometry()["max_spacing_ratio"] for e in evidence])


# A rule: (the serving limits, the validation films' evidence, the longest-step limit the checkpoint
# fitted) -> the limits to judge by.
Rule = Callable[[MeasurabilityThresholds, list[LandmarkEvidence], float], MeasurabilityThresholds]
RULES: dict[str, Rule] = {
    # The serving code's limits: no longest-step limit since 2026-12-05 (rule N).
    "serving": lambda limits, val, fitted: limits,
    # The checkpoint's own fitted longest-step limit (validation q98 x 1.15), the rule until 2026-12-05.
    "fitted-longest-step": lambda limits, val, fitted: replace(limits, max_spacing_ratio=fitted),
    # 1.9 x the validation films' median longest step, within 1.9-3.5 (rule M of 2026-12-05).
    "median-longest-step": lambda limits, val, fitted: replace(
        limits, max_spacing_ratio=float(np.clip(1.9 * np.median(longest_steps(val)), 1.9, 3.5))),
    # Every spacing and height limit at its outer sanity bound (rule C of 2026-12-04).
    "sanity-bounds": lambda limits, val, fitted: replace(limits, max_spacing_ratio=3.5, min_height_ratio=0.2,
                                                         max_height_ratio=2.0),
}


def film_record(predictor: LandmarkPredictor, source) -> dict[str, np.ndarray]:
    """The model's evidence on one film, and the angles it reads with every limit let through."""
    decoded = decode_image(source, predictor.params.decode_max_side)
    tensor, box = preprocess_with_box(decoded.pixels, predictor.params)
    ev = predictor.evidence(tensor.unsqueeze(0))[0]
    points = canvas_to_image(ev.measured_corners.reshape(-1, 2), box, decoded.original_size)
    try:
        m = cobb_angles(points, image_height=decoded.original_size[1])
        angles = np.array([m.pt, m.mt, m.tl])
    except ValueError:  # degenerate corners
        angles = np.full(3, np.nan)
    return {"corners": ev.corners, "centres": ev.centres, "confidence": ev.confidence,
            "ood": np.array(ev.ood_distance), "refined": ev.measured_corners, "angles": angles}


def collect(checkpoint: Path, data: Path) -> dict[str, np.ndarray]:
    predictor = LandmarkPredictor.from_checkpoint(checkpoint)
    fold = predictor.metadata.get("held_out_fold")
    if fold is None:
        sys.exit(f"{checkpoint}: no held_out_fold in its metadata (not a cross-validation fold model)")
    samples = samples_from_labels_csv(data / "aasce")
    _, _, val = checkpoint_split(predictor.metadata, samples)
    held = [s for s in samples if s.fold == fold]
    folder = data / "fraiwan" / "spondylolisthesis"
    spondy = sorted(p for p in folder.iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png"})
    sets = {"val": [(s.read(), s.angles) for s in val], "held": [(s.read(), s.angles) for s in held],
            "spondy": [(p, None) for p in spondy]}
    out: dict[str, np.ndarray] = {"fold": np.array(fold)}
    for part, films in sets.items():
        records = [{**film_record(predictor, src), "ref": np.array(ref if ref else [np.nan] * 3)} for src, ref in films]
        out.update({f"{part}_{k}": np.stack([r[k] for r in records]) for k in FIELDS})
        out[f"{part}_names"] = np.array([Path(str(src)).name for src, _ in films])
    out["limits"] = np.array(json.dumps(predictor.limits.to_dict()))
    out["fitted_longest_step"] = np.array(float(predictor.metadata["measurability"].get("max_spacing_ratio", np.inf)))
    return out


def evidence_of(cache: dict[str, np.ndarray], part: str) -> list[LandmarkEvidence]:
    return [LandmarkEvidence(*(cache[f"{part}_{k}"][i] for k in ("corners", "centres", "confidence")),
                             float(cache[f"{part}_ood"][i]), cache[f"{part}_refined"][i])
            for i in range(len(cache[f"{part}_names"]))]


def judge(cache: dict[str, np.ndarray], rule: Rule) -> dict:
    serving = MeasurabilityThresholds.from_dict(json.loads(str(cache["limits"])))
    limits = rule(serving, evidence_of(cache, "val"), float(cache["fitted_longest_step"]))
    held = evidence_of(cache, "held")
    angles, ref = cache["held_angles"][:, 0], cache["held_ref"][:, 0]
    measured = np.array([not_measured_reason(e, limits) is None for e in held]) & ~np.isnan(angles)
    base = np.array([not_measured_reason(e, serving) is None for e in held]) & ~np.isnan(angles)
    errors = np.abs(angles - ref)
    changed = [(str(cache["held_names"][i]), "added" if measured[i] else "dropped", float(errors[i]), float(ref[i]))
               for i in np.flatnonzero(measured != base)]
    let_in = sum(not_measured_reason(e, limits) is None for e in evidence_of(cache, "spondy"))
    return {"measured": int(measured.sum()), "films": len(held), "abs_errors": errors[measured].tolist(),
            "lumbar_let_in": int(let_in), "changed": changed, "limits": limits}


def load_or_collect(checkpoint: Path, data: Path) -> dict[str, np.ndarray]:
    cache = checkpoint.with_name(checkpoint.name + ".evidence.npz")
    if not cache.exists():
        np.savez_compressed(cache, **collect(checkpoint, data))
    with np.load(cache, allow_pickle=False) as loaded:
        return dict(loaded)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoints", type=Path, nargs="+")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--rules", nargs="+", choices=sorted(RULES), default=["serving", "fitted-longest-step"])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    pooled = {name: {"measured": 0, "films": 0, "abs_errors": [], "lumbar_let_in": 0} for name in args.rules}
    for checkpoint in args.checkpoints:
        cache = load_or_collect(checkpoint, args.data)
        print(f"== {checkpoint} (fold {int(cache['fold'])})")
        for name in args.rules:
            r = judge(cache, RULES[name])
            for key in ("measured", "films", "lumbar_let_in"):
                pooled[name][key] += r[key]
            pooled[name]["abs_errors"] += r["abs_errors"]
            print(f"  {name:20s} longest step <= {r['limits'].max_spacing_ratio:.2f}: measured {r['measured']}/{r['films']}, "
                  f"MAE {np.mean(r['abs_errors']):.2f} deg, lumbar/lateral let in {r['lumbar_let_in']}")
            for film, change, error, ref in r["changed"]:
                print(f"    {change:7s} {film}: reference {ref:.1f} deg, reads {error:.1f} deg off")
    print("== pooled")
    for name, p in pooled.items():
        print(f"  {name:20s} measured {p['measured']}/{p['films']} ({100 * p['measured'] / max(p['films'], 1):.1f} %), "
              f"MAE {np.mean(p['abs_errors']):.2f} deg, lumbar/lateral let in {p['lumbar_let_in']}")


if __name__ == "__main__":
    main()
