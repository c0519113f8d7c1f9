"""``manage.py classify FILE...``: one JSON line per input (thin wrapper over the engine)."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import CommandParser

from inference.management.film_command import FilmCommand, ModelFile


class Command(FilmCommand):
    help = "Classify spine radiographs; prints one JSON object per input line by line."
    model = ModelFile("Predictor", "checkpoint", setting="DEFAULT_MODEL_PATH", shipped="default.pt")
    checkpoint_help = "model checkpoint (default: the shipped default model)"
    failed_words = "inputs could not be classified"

    def add_film_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--gradcam-dir", help="write a Grad-CAM overlay PNG per input here")

    def start(self, opts: dict) -> None:
        self.gradcam_dir = Path(opts["gradcam_dir"]) if opts["gradcam_dir"] else None
        if self.gradcam_dir:
            self.gradcam_dir.mkdir(parents=True, exist_ok=True)

    def read_film(self, predictor, index: int, name: str, opts: dict) -> dict:
        result = predictor.predict(Path(name), gradcam=self.gradcam_dir is not None)
        line = result.to_dict()
        if self.gradcam_dir and result.overlay_png:
            out = self.gradcam_dir / f"{index:04d}_{Path(name).stem}.gradcam.png"
            out.write_bytes(result.overlay_png)
            line["gradcam"] = str(out)
        return line
