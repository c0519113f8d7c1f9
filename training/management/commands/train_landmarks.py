"""``manage.py train_landmarks --data DIR``: train a vertebra landmark checkpoint (engine wrapper)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

# Options that override the recipe's value (training.engine.LandmarkTrainConfig, same names) only
# when given: (flag, type, help).
RECIPE_OVERRIDES = [
    ("--val-fraction", float, "patient-grouped share that sets the not-measured thresholds (default 0.1)"),
    ("--input-size", int, "canvas height"),
    ("--input-width", int, "canvas width"),
    ("--head-width", int, "channels of the FPN head (default 96)"),
    ("--batch-size", int, None),
    ("--lr", float, "peak head learning rate (default 1e-3; lower it when continuing a run)"),
    ("--shuffle-seed", int, "batch order and augmentation seed (the validation split follows --seed)"),
    ("--max-steps", int, "step budget: the learning-rate schedule follows steps, so the run reproduces "
                         "on a busy CPU (--minutes then only caps the wall clock)"),
    ("--severe-repeat", int, "times per epoch each training film with a curve of 50 deg or more is drawn"),
]


class Command(BaseCommand):
    help = ("Train a vertebra landmark (Cobb angle) checkpoint from a folder with labels.csv "
            "(file, group, fold, x0..x67, y0..y67 as fractions of width and height) and its images.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--data", required=True, help="folder holding labels.csv and the images it names")
        parser.add_argument("--out", help="checkpoint file to write (default: var/models/landmarks-<time>.pt)")
        parser.add_argument("--minutes", type=float, default=35.0, help="wall-clock budget of the training loop")
        parser.add_argument("--hold-out-fold", type=int, default=None,
                            help="leave this value of the fold column out of training (to evaluate on it)")
        for flag, kind, help_text in RECIPE_OVERRIDES:
            parser.add_argument(flag, type=kind, default=None, help=help_text)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--threads", type=int, default=None)
        parser.add_argument("--init-from", default=None,
                            help="warm start: an earlier landmark checkpoint (same architecture and canvas) "
                                 "whose weights are loaded before training")

    def handle(self, *args, **opts) -> None:
        from inference.engine.checkpoint import CheckpointError
        from training.engine import LandmarkTrainConfig, samples_from_labels_csv, train_landmarks

        try:
            samples = samples_from_labels_csv(opts["data"])
        except (FileNotFoundError, KeyError, ValueError) as exc:
            raise CommandError(f"cannot read landmark labels from {opts['data']}: {exc}") from exc
        extra = {}
        if opts["hold_out_fold"] is not None:
            samples = [s for s in samples if s.fold != opts["hold_out_fold"]]
            extra["held_out_fold"] = opts["hold_out_fold"]
        if not samples:
            raise CommandError("no training films left")
        given = [flag[2:].replace("-", "_") for flag, _, _ in RECIPE_OVERRIDES]
        overrides = {k: opts[k] for k in given if opts[k] is not None}
        init = opts["init_from"]
        if init and not Path(init).is_file():
            raise CommandError(f"no checkpoint at {init}")
        config = LandmarkTrainConfig(time_budget_s=opts["minutes"] * 60, seed=opts["seed"], num_threads=opts["threads"],
                                     init_checkpoint=init, extra_metadata=extra, **overrides)
        out = Path(opts["out"] or Path(settings.BASE_DIR) / "var" / "models" / f"landmarks-{time.strftime('%Y%m%d-%H%M%S')}.pt")
        self.stdout.write(f"training on {len(samples)} films for up to {opts['minutes']:g} min -> {out}")
        try:
            result = train_landmarks(samples, config, checkpoint=out,
                                     progress=lambda record: self.stdout.write(json.dumps(record)))
        except CheckpointError as exc:
            raise CommandError(f"cannot warm-start from {init}: {exc}") from exc
        self.stdout.write(json.dumps({"checkpoint": str(out), "sha256": result.checkpoint_sha256,
                                      "seconds": round(result.seconds, 1),
                                      "validation": result.metadata["validation_metrics"],
                                      "measurability": result.metadata["measurability"]}))
