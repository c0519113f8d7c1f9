"""Out-of-distribution behaviour of one checkpoint (default: the shipped model) on films it never saw.

The shipped model is trained without the platform's fixed evaluation set (the patient groups that
`training.runs.dataset.group_in_base_evaluation_set` holds out), so those films are honest
held-out spine radiographs. Reported:

- classification metrics on those films (a single held-out split, not cross-validation);
- the share of held-out spine films flagged (target <= 5 %), also after framing changes (crop to
  a spine band, padding, a white border, burnt-in text);
- the share of non-spine probe images flagged (target >= 95 %), per category: photos shipped by
  scikit-image, synthetic noise/blank/patterns, rendered text screenshots, CT/MR slices shipped
  by pydicom, and the lateral strips (ribs, lungs, no spine) of the held-out torso films;
- the same without the torso strips, the hardest and least realistic category.

Run:  .venv/bin/python bench/engine_ood.py [--checkpoint models/default.pt] [--data DIR]
Writes bench/out/engine_ood.json.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "scoliosis_portal.settings.dev")

from engine_cv import probe_category  # noqa: E402
from engine_probe import fixed_probe_set, non_spine_crops  # noqa: E402

OUT = ROOT / "bench" / "out" / "engine_ood.json"


def probe_flags(predictor, grays: list, held_out: list) -> tuple[dict[str, list[bool]], list[str]]:
    """The OOD flag of every probe image, by category, and the names of the probes it missed."""
    probes = fixed_probe_set() + non_spine_crops(grays, [Path(str(s.source)).name for s in held_out])
    by_category: dict[str, list[bool]] = defaultdict(list)
    missed = []
    for name, image in probes:
        result = predictor.predict(image)
        by_category[probe_category(name)].append(result.out_of_distribution)
        if not result.out_of_distribution:
            missed.append(name)
    return by_category, missed


def main() -> None:
    import django

    django.setup()
    from inference.engine import Predictor, decode_image
    from training.engine import samples_from_folder
    from training.runs.dataset import group_in_base_evaluation_set

    ap = argparse.ArgumentParser()
    ap.add_argument("--checkpoint", default=str(ROOT / "models" / "default.pt"))
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "fraiwan")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    if not args.data.is_dir():
        sys.exit(f"data folder {args.data} not found: this benchmark needs the base data")

    predictor = Predictor.from_checkpoint(args.checkpoint, num_threads=args.threads)
    meta = predictor.metadata
    held_out = [s for s in samples_from_folder(args.data) if group_in_base_evaluation_set(s.group)]
    if "left out" not in str(meta.get("evaluation_set", "")):
        print("warning: this checkpoint does not say it was trained without the evaluation set; "
              "the spine figures below may be in-sample", file=sys.stderr)

    spine_results = [predictor.predict(s.read()) for s in held_out]
    spine_scores = [r.ood_score for r in spine_results]
    from training.engine.metrics import compute_metrics

    labels = predictor.labels
    classification = compute_metrics(np.array([[r.probabilities[c] for c in labels] for r in spine_results]),
                                     np.array([labels.index(s.label) for s in held_out]), labels)
    grays = [decode_image(s.read()).pixels for s in held_out]
    # Films framed differently (as other hospitals' may be) must not be refused as foreign.
    from training.engine.robustness import PERTURBATIONS

    reframed = {name: float(np.mean([predictor.predict(np.clip(fn(g), 0, 1).astype(np.float32)).out_of_distribution
                                     for g in grays])) for name, fn in PERTURBATIONS.items()}
    by_category, missed = probe_flags(predictor, grays, held_out)
    threshold = predictor.ood.threshold
    all_flags = [f for flags in by_category.values() for f in flags]
    without_strips = [f for c, flags in by_category.items() if not c.startswith("non-spine crops") for f in flags]
    report = {
        "checkpoint": args.checkpoint,
        "score": "relative: max over the semantic and style detectors of distance / threshold",
        "semantic_threshold": predictor.ood.semantic.threshold,
        "semantic_threshold_source": meta["ood"].get("threshold_source") or meta["ood"].get("margin_source"),
        "style": meta["ood"].get("style"),
        "held_out_spine_films": len(held_out),
        "spine_flag_rate": float(np.mean(np.asarray(spine_scores) > threshold)),
        "spine_score_quantiles": {q: float(np.quantile(spine_scores, float(q))) for q in ("0.5", "0.95", "1.0")},
        "reframed_spine_flag_rate": reframed,
        "held_out_classification": {k: v for k, v in classification.items() if not isinstance(v, dict)},
        "probe_images": len(all_flags),
        "probe_flag_rate": float(np.mean(all_flags)),
        "probe_flag_rate_without_torso_strips": float(np.mean(without_strips)),
        "per_category": {c: {"n": len(f), "flag_rate": float(np.mean(f))} for c, f in sorted(by_category.items())},
        "missed_outside_torso_strips": [n for n in missed if not n.startswith("crop_")],
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
