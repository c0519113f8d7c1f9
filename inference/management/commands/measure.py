"""``manage.py measure FILE...``: Cobb angles from vertebra landmarks, one JSON line per file."""

from __future__ import annotations

import json
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser


def default_landmark_checkpoint() -> Path:
    return Path(getattr(settings, "LANDMARK_MODEL_PATH", Path(settings.BASE_DIR) / "models" / "landmarks.pt"))


class Command(BaseCommand):
    help = ("Measure AP spine films: prints one JSON line per file with the three Cobb angles, the largest "
            "curve, the 68 landmarks in pixels, or the reason the film was not measured.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("files", nargs="+", help="JPEG/PNG radiographs")
        parser.add_argument("--checkpoint", help="landmark checkpoint (default: the shipped models/landmarks.pt)")
        parser.add_argument("--view-position", help="the films' declared view (e.g. AP, PA, LL); lateral is not measured")
        parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")

    def handle(self, *args, **opts) -> None:
        from inference.engine import (  # torch: lazy
            CheckpointError,
            ImageDecodeError,
            LandmarkPredictor,
        )

        checkpoint = opts["checkpoint"] or default_landmark_checkpoint()
        try:
            predictor = LandmarkPredictor.from_checkpoint(checkpoint, num_threads=opts["threads"])
        except CheckpointError as exc:
            raise CommandError(f"cannot load landmark checkpoint {checkpoint}: {exc}") from exc
        failures = 0
        for name in opts["files"]:
            try:
                line = {"path": name, **predictor.measure(Path(name), view_position=opts["view_position"]).to_dict()}
            except ImageDecodeError as exc:
                failures += 1
                line = {"path": name, "error": str(exc)}
            self.stdout.write(json.dumps(line))
        if failures:
            raise CommandError(f"{failures} of {len(opts['files'])} files could not be measured", returncode=2)
