"""``manage.py train --data DIR``: train a checkpoint from a folder per class (engine wrapper)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from training.engine.recipe import SHIPPED_RECIPE


def parse_label_map(text: str | None) -> dict[str, str] | None:
    if not text:
        return None
    pairs = [item.split("=", 1) for item in text.split(",") if item.strip()]
    return {folder.strip(): label.strip() for folder, label in pairs}


class Command(BaseCommand):
    help = "Train a spine classifier checkpoint from a folder of class sub-folders."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--data", required=True, help="folder with one sub-folder per class")
        parser.add_argument("--manifest", help="CSV with path and group columns (default: DATA/manifest.csv)")
        parser.add_argument("--out", help="checkpoint file to write (default: var/models/spine-<time>.pt)")
        # Defaults: the shipped model's recipe (training.engine.recipe), as for platform runs.
        recipe = SHIPPED_RECIPE
        parser.add_argument("--epochs", type=int, default=recipe.epochs)
        parser.add_argument("--input-size", type=int, default=recipe.input_size)
        parser.add_argument("--batch-size", type=int, default=recipe.batch_size)
        parser.add_argument("--learning-rate", type=float, default=recipe.learning_rate)
        parser.add_argument("--seed", type=int, default=recipe.seed)
        parser.add_argument("--threads", type=int, default=None)
        parser.add_argument("--label-map", help="folder=label pairs, e.g. NormalFinal=normal,ScolFinal=scoliosis")
        parser.add_argument("--val-fraction", type=float, default=recipe.validation_fraction,
                            help="patient-grouped validation share for calibration/early stopping; 0 = train on all")
        parser.add_argument("--temperature", type=float, help="fixed calibration temperature (needed with --val-fraction 0)")
        parser.add_argument("--ood-margin", type=float, default=None)
        parser.add_argument("--metadata-json", help="JSON file merged into the checkpoint metadata (e.g. a CV report)")
        parser.add_argument("--outlier-exposure", type=float, default=recipe.outlier_exposure,
                            help="weight of the loss on spine-free strips of wide films (default: the shipped "
                                 "recipe's, as for platform training runs; 0 = off)")
        parser.add_argument("--confidence-floor", type=float, default=None,
                            help="flag as OOD below this top probability (default 0.5 with outlier exposure)")
        parser.add_argument("--input-width", type=int, default=None, help="canvas width (default: square)")
        parser.add_argument("--patience", type=int, default=None, help="early stopping patience (epochs)")
        parser.add_argument("--hold-out-evaluation-set", action="store_true",
                            help="leave out the patient groups that form the platform's fixed evaluation set "
                                 "(TRAINING_BASE_EVALUATION_SHARE), so the platform can compare this model "
                                 "with retrained ones on films it never saw")

    def handle(self, *args, **opts) -> None:
        from tqdm import tqdm

        from training.engine import TrainConfig, grouped_holdout, samples_from_folder, train_model

        try:
            samples = samples_from_folder(opts["data"], parse_label_map(opts["label_map"]), opts["manifest"])
        except (FileNotFoundError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        if opts["hold_out_evaluation_set"]:
            from training.runs.dataset import sample_in_base_evaluation_set

            kept = [s for s in samples if not sample_in_base_evaluation_set(s)]
            self.stdout.write(f"holding out {len(samples) - len(kept)} evaluation-set images")
            samples = kept
        train, val = (samples, []) if opts["val_fraction"] <= 0 else grouped_holdout(samples, opts["val_fraction"], opts["seed"])
        out = Path(opts["out"] or Path(settings.BASE_DIR) / "var" / "models" / f"spine-{time.strftime('%Y%m%d-%H%M%S')}.pt")
        overrides = {k: opts[o] for k, o in [("epochs", "epochs"), ("input_size", "input_size"), ("batch_size", "batch_size"), ("lr", "learning_rate"),
                                             ("temperature", "temperature"), ("ood_margin", "ood_margin"),
                                             ("outlier_exposure", "outlier_exposure"), ("input_width", "input_width"),
                                             ("confidence_floor", "confidence_floor"),
                                             ("early_stopping_patience", "patience")] if opts[o] is not None}
        extra = json.loads(Path(opts["metadata_json"]).read_text()) if opts["metadata_json"] else {}
        if opts["hold_out_evaluation_set"]:
            # bench/engine_ood.py reads this to know the evaluation-set films are unseen.
            extra.setdefault("evaluation_set", "the platform's fixed evaluation set (patient groups hashed into "
                             f"TRAINING_BASE_EVALUATION_SHARE={settings.TRAINING_BASE_EVALUATION_SHARE}) "
                             "was left out of training")
        config = TrainConfig(seed=opts["seed"], num_threads=opts["threads"], extra_metadata=extra,
                             validation_fraction=opts["val_fraction"], **overrides)
        self.stdout.write(f"{len(train)} training / {len(val)} validation images -> {out}")
        bar = tqdm(total=None, unit="step", dynamic_ncols=True)

        def progress(info: dict) -> None:
            bar.total = info["total_steps"]
            if info.get("end_of_epoch"):
                val_acc = f" val_acc={info['val_accuracy']:.3f}" if "val_accuracy" in info else ""
                bar.write(f"epoch {info['epoch']}/{info['epochs']} loss={info['loss']:.4f}{val_acc}")
            else:
                bar.update(1)
                bar.set_postfix(epoch=info["epoch"], loss=f"{info['loss']:.3f}")

        result = train_model(train, val or None, config, progress=progress, checkpoint=out)
        bar.close()
        summary = {"checkpoint": str(out), "sha256": result.checkpoint_sha256, "seconds": round(result.seconds, 1),
                   "temperature": result.temperature, "ood_threshold": result.ood.semantic.threshold,
                   "style_ood_threshold": result.ood.style.threshold if result.ood.style else None,
                   "confidence_floor": result.ood.confidence_floor,
                   "val": {k: v for k, v in result.metrics.get("val", {}).items() if isinstance(v, float)}}
        self.stdout.write(json.dumps(summary, indent=2))
