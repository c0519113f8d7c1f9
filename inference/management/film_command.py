"""What the model commands (`classify`, `measure`) share: film files in, a checkpoint (default:
the shipped model), one JSON line per file, and exit code 2 when a file could not be read. A
thin wrapper over the engine: torch is imported only when a command runs."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser


@dataclass(frozen=True)
class ModelFile:
    """Which model a command loads, and where the shipped one is."""

    predictor_class: str  # a name in inference.engine
    words: str  # "checkpoint", "landmark checkpoint": how the load error names it
    setting: str  # the setting naming the shipped file; without it, models/<shipped>
    shipped: str

    def default_path(self) -> Path:
        return Path(getattr(settings, self.setting, Path(settings.BASE_DIR) / "models" / self.shipped))


class FilmCommand(BaseCommand):
    model: ModelFile
    checkpoint_help: str
    failed_words: str  # "files could not be measured": in the final error

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("files", nargs="+", help="JPEG/PNG radiographs")
        parser.add_argument("--checkpoint", help=self.checkpoint_help)
        self.add_film_arguments(parser)
        parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")

    def add_film_arguments(self, parser: CommandParser) -> None:
        """The command's own options, between --checkpoint and --threads."""

    def handle(self, *args, **opts) -> None:
        from inference import engine  # torch: lazy

        checkpoint = opts["checkpoint"] or self.model.default_path()
        try:
            predictor = getattr(engine, self.model.predictor_class).from_checkpoint(checkpoint, num_threads=opts["threads"])
        except engine.CheckpointError as exc:
            raise CommandError(f"cannot load {self.model.words} {checkpoint}: {exc}") from exc
        self.start(opts)
        failures = 0
        for index, name in enumerate(opts["files"]):
            try:
                line = {"path": name, **self.read_film(predictor, index, name, opts)}
            except engine.ImageDecodeError as exc:
                failures += 1
                line = {"path": name, "error": str(exc)}
            self.stdout.write(json.dumps(line))
        if failures:
            raise CommandError(f"{failures} of {len(opts['files'])} {self.failed_words}", returncode=2)

    def start(self, opts: dict) -> None:
        """After the model loaded, before the first file."""

    def read_film(self, predictor, index: int, name: str, opts: dict) -> dict:
        """The JSON line of one film (without its path); ImageDecodeError if unreadable."""
        raise NotImplementedError
