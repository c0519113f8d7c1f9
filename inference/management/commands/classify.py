"""``manage.py classify FILE...``: one JSON line per input (thin wrapper over the engine)."""

from __future__ import annotations

import json
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser


def default_checkpoint() -> Path:
    return Path(getattr(settings, "DEFAULT_MODEL_PATH", Path(settings.BASE_DIR) / "models" / "default.pt"))


class Command(BaseCommand):
    help = "Classify spine radiographs; prints one JSON object per input line by line."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("files", nargs="+", help="JPEG/PNG radiographs")
        parser.add_argument("--checkpoint", help="model checkpoint (default: the shipped default model)")
        parser.add_argument("--gradcam-dir", help="write a Grad-CAM overlay PNG per input here")
        parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")

    def handle(self, *args, **opts) -> None:
        from inference.engine import CheckpointError, ImageDecodeError, Predictor  # torch: lazy

        checkpoint = opts["checkpoint"] or default_checkpoint()
        try:
            predictor = Predictor.from_checkpoint(checkpoint, num_threads=opts["threads"])
        except CheckpointError as exc:
            raise CommandError(f"cannot load checkpoint {checkpoint}: {exc}") from exc
        gradcam_dir = Path(opts["gradcam_dir"]) if opts["gradcam_dir"] else None
        if gradcam_dir:
            gradcam_dir.mkdir(parents=True, exist_ok=True)
        failures = 0
        for index, name in enumerate(opts["files"]):
            line: dict = {"path": name}
            try:
                result = predictor.predict(Path(name), gradcam=gradcam_dir is not None)
                line.update(result.to_dict())
                if gradcam_dir and result.overlay_png:
                    out = gradcam_dir / f"{index:04d}_{Path(name).stem}.gradcam.png"
                    out.write_bytes(result.overlay_png)
                    line["gradcam"] = str(out)
            except ImageDecodeError as exc:
                failures += 1
                line["error"] = str(exc)
            self.stdout.write(json.dumps(line))
        if failures:
            raise CommandError(f"{failures} of {len(opts['files'])} inputs could not be classified", returncode=2)
