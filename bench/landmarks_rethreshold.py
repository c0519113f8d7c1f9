"""Refit a landmark checkpoint's OOD scorer and not-measured thresholds with the current rule.

The network's weights are kept. The training films and the internal validation films are
recomputed from the checkpoint's own metadata (seed, validation share, held-out fold), so the
Gaussian still comes from training films and the thresholds only from films the network did not
train on; the checkpoint's training config takes the current rule's fields, and the previous
limits are kept in the metadata under ``measurability_previous``.

    .venv/bin/python bench/landmarks_rethreshold.py var/landmarks_cv/fold0.pt var/landmarks_cv/fold0-v2.pt
    .venv/bin/python bench/landmarks_rethreshold.py var/cv/f4/fold4.pt var/cv/f4k/fold4.pt --ood-neighbours 5
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from inference.engine.checkpoint import load_checkpoint, save_checkpoint  # noqa: E402
from inference.engine.landmark_predictor import LANDMARK_FORMAT, LandmarkPredictor  # noqa: E402
from training.engine.landmarks import (  # noqa: E402
    DecodedFilms,
    LandmarkTrainConfig,
    checkpoint_split,
    fit_serving_parts,
    samples_from_labels_csv,
)

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
# The fields that set the OOD scorer and the thresholds: these take the current defaults.
RULE_FIELDS = ("confidence_quantile", "confidence_factor", "ood_quantile", "ood_margin",
               "geometry_margin", "geometry_quantile", "ood_fit_films", "ood_neighbours")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", type=Path)
    parser.add_argument("target", type=Path)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--ood-neighbours", type=int, default=None,
                        help="score OOD by the mean distance to this many nearest training films "
                             "(0: the Gaussian; default: the current rule's)")
    args = parser.parse_args()
    loaded = load_checkpoint(args.source, expected_format=LANDMARK_FORMAT)
    meta = loaded.metadata
    predictor = LandmarkPredictor.from_checkpoint(args.source, num_threads=args.threads)
    config, train, val = checkpoint_split(meta, samples_from_labels_csv(args.data / "aasce"))
    current = LandmarkTrainConfig()
    config = replace(config, **{k: getattr(current, k) for k in RULE_FIELDS})
    if args.ood_neighbours is not None:
        config = replace(config, ood_neighbours=args.ood_neighbours)
    if (len(train), len(val)) != (meta["training"]["n_train"], meta["training"]["n_validation"]):
        sys.exit(f"the recomputed split ({len(train)} + {len(val)} films) is not the checkpoint's "
                 f"({meta['training']['n_train']} + {meta['training']['n_validation']}): other data?")
    films = DecodedFilms(train + val, config.params())
    parts = fit_serving_parts(predictor.model, train + val, films, range(len(train)),
                              range(len(train), len(train) + len(val)), config)
    meta = {**meta, "training": {**meta["training"], **{k: asdict(config)[k] for k in RULE_FIELDS}},
            "measurability": parts.limits.to_dict(), "measurability_source": parts.threshold_info,
            "measurability_previous": meta["measurability"], "validation_metrics": parts.val_metrics}
    save_checkpoint(args.target, loaded.state_dict, parts.ood.to_state(), meta, format=LANDMARK_FORMAT)
    print(parts.limits, parts.val_metrics.get("measured_share"))


if __name__ == "__main__":
    main()
