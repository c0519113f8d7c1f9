"""``manage.py evaluate --checkpoint FILE --data DIR``: metrics table, JSON and plots."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from .train import parse_label_map


class Command(BaseCommand):
    help = "Evaluate a checkpoint on a labelled folder; writes metrics.json and PNG plots."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--checkpoint", required=True)
        parser.add_argument("--data", required=True, help="folder with one sub-folder per class")
        parser.add_argument("--manifest")
        parser.add_argument("--label-map")
        parser.add_argument("--out", default=None, help="output folder (default: var/eval/<checkpoint name>)")
        parser.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for 95%% intervals")
        parser.add_argument("--threads", type=int, default=None)

    def handle(self, *args, **opts) -> None:
        import torch

        from inference.engine import CheckpointError
        from training.engine import evaluate_checkpoint, samples_from_folder
        from training.engine.metrics import format_table

        if opts["threads"]:
            torch.set_num_threads(opts["threads"])
        out = Path(opts["out"] or Path("var") / "eval" / Path(opts["checkpoint"]).stem)
        try:
            samples = samples_from_folder(opts["data"], parse_label_map(opts["label_map"]), opts["manifest"])
            metrics = evaluate_checkpoint(opts["checkpoint"], samples, out, n_boot=opts["bootstrap"])
        except (CheckpointError, FileNotFoundError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"{metrics['n']} images, checkpoint sha256 {metrics['checkpoint_sha256'][:12]}")
        self.stdout.write(format_table(metrics))
        self.stdout.write(f"confusion matrix (rows true, cols predicted): {metrics['confusion_matrix']}")
        self.stdout.write(f"wrote {out / 'metrics.json'} and plots")
