"""Re-derive a landmark checkpoint's not-measured thresholds with the current rule, no retraining.

The internal validation films are recomputed from the checkpoint's own metadata (seed,
validation share, held-out fold), so the thresholds still come only from films the model did
not train on; the weights and the OOD Gaussian are unchanged.

    .venv/bin/python bench/landmarks_rethreshold.py var/landmarks_cv/fold0.pt var/landmarks_cv/fold0-v2.pt
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import fields
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from inference.engine.checkpoint import load_checkpoint, save_checkpoint  # noqa: E402
from inference.engine.landmark_predictor import LANDMARK_FORMAT, LandmarkPredictor  # noqa: E402
from inference.engine.preprocessing import preprocess_with_box  # noqa: E402
from training.engine.landmarks import (  # noqa: E402
    DecodedFilms,
    LandmarkTrainConfig,
    fit_thresholds,
    grouped_validation_split,
    samples_from_labels_csv,
)

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("source", type=Path)
    parser.add_argument("target", type=Path)
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args()
    loaded = load_checkpoint(args.source, expected_format=LANDMARK_FORMAT)
    meta = loaded.metadata
    predictor = LandmarkPredictor.from_checkpoint(args.source, num_threads=2)
    known = {f.name for f in fields(LandmarkTrainConfig)}
    config = LandmarkTrainConfig(**{k: v for k, v in meta["training"].items() if k in known})
    held = meta.get("held_out_fold")
    samples = [s for s in samples_from_labels_csv(args.data / "aasce") if held is None or s.fold != held]
    _, val = grouped_validation_split(samples, config.val_fraction, config.seed)
    films = DecodedFilms(val, predictor.params)
    evidence = [predictor.evidence(preprocess_with_box(films.gray(i), predictor.params)[0].unsqueeze(0))[0]
                for i in range(len(val))]
    limits, info = fit_thresholds(evidence, config)
    meta = {**meta, "measurability": limits.to_dict(), "measurability_source": info,
            "measurability_previous": meta["measurability"]}
    save_checkpoint(args.target, loaded.state_dict, loaded.ood_state, meta, format=LANDMARK_FORMAT)
    print(limits)


if __name__ == "__main__":
    main()
