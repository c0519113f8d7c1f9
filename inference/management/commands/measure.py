"""``manage.py measure FILE...``: Cobb angles from vertebra landmarks, one JSON line per file."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import CommandParser

from inference.management.film_command import FilmCommand, ModelFile


class Command(FilmCommand):
    help = ("Measure AP spine films: prints one JSON line per file with the three Cobb angles, the largest "
            "curve, the 68 landmarks in pixels, or the reason the film was not measured.")
    model = ModelFile("LandmarkPredictor", "landmark checkpoint", setting="DEFAULT_LANDMARK_MODEL_PATH", shipped="landmarks.pt")
    checkpoint_help = "landmark checkpoint (default: the shipped models/landmarks.pt)"
    failed_words = "files could not be measured"

    def add_film_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--view-position", help="the films' declared view (e.g. AP, PA, LL); lateral is not measured")

    def read_film(self, predictor, index: int, name: str, opts: dict) -> dict:
        return predictor.measure(Path(name), view_position=opts["view_position"]).to_dict()
