"""Training loop: fine-tune, fit the OOD statistics, calibrate, save one checkpoint."""

from __future__ import annotations

import copy
import math
import os
import platform
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import IO, Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from inference.engine.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from inference.engine.model import (
    create_model,
    forward_style_only,
    forward_with_features,
)
from inference.engine.ood import MahalanobisOOD, OODDetector, StyleOOD
from inference.engine.preprocessing import PreprocessParams, preprocess

from .augment import RadiographTrainAugmentation
from .calibration import fit_temperature, softmax
from .data import DecodedCache, RadiographDataset, Sample, data_fingerprint, group_ids
from .metrics import compute_metrics
from .recipe import SHIPPED_RECIPE, Recipe

ProgressCallback = Callable[[dict[str, Any]], None]

# Held-out spine films score far above the in-sample training films: with ~250 images and 1280
# features the fitted network and covariance hug the training set (in-sample q99 about 17,
# held-out median about 45 for lite0). 5-fold CV of lite0@256 put the held-out 97th percentile
# at 5.19 x the in-sample q99 (bench/engine_cv.py); rounded down, this is the margin used when
# a run has no validation images to measure it on.
DEFAULT_OOD_MARGIN = 5.0


@dataclass
class TrainConfig:
    # Defaults: the shipped model's recipe (training.engine.recipe), the one place they live.
    architecture: str = SHIPPED_RECIPE.architecture
    input_size: int = SHIPPED_RECIPE.input_size  # canvas height
    input_width: int | None = None  # canvas width (None: square)
    epochs: int = SHIPPED_RECIPE.epochs
    batch_size: int = SHIPPED_RECIPE.batch_size
    lr: float = SHIPPED_RECIPE.learning_rate
    weight_decay: float = SHIPPED_RECIPE.weight_decay
    warmup_epochs: float = SHIPPED_RECIPE.warmup_epochs
    freeze_stages: int = SHIPPED_RECIPE.freeze_stages
    seed: int = SHIPPED_RECIPE.seed
    num_threads: int | None = None
    early_stopping_patience: int | None = None  # epochs without val-loss gain; needs val data
    labels: list[str] | None = None  # default: sorted labels of the training samples
    temperature: float | None = None  # None: fit on the validation samples (1.0 without them)
    ood_quantile: float = 0.99  # of the in-sample training scores
    # Threshold = margin x that quantile. None: taken from the validation images instead (see
    # `_ood_threshold`), or DEFAULT_OOD_MARGIN without validation images.
    ood_margin: float | None = None
    ood_spine_flag_budget: float = 0.03  # share of held-out spine films the threshold may flag
    style_ood: bool = True  # the second, texture-level detector (see inference.engine.ood)
    style_augmented_copies: int = 3  # augmented copies of each film it is also fitted on
    style_quantile: float = 0.99  # of cross-fitted training-film scores
    outlier_exposure: float = SHIPPED_RECIPE.outlier_exposure  # uniform-prediction loss on non-spine crops
    # With outlier exposure the model answers spine-free regions near-uniformly: a top calibrated
    # probability below this floor is then a third OOD detector. None: 0.5 with outlier exposure,
    # off without (there a low top probability means a hard film, not a foreign one).
    confidence_floor: float | None = None
    outliers_per_batch: int = SHIPPED_RECIPE.outliers_per_batch
    pretrained: bool = True
    # A checkpoint (path, file or bytes) to fine-tune instead of starting from ImageNet: its
    # architecture and backbone are taken, and its head rows for the labels both sets share.
    init_from: str | os.PathLike | IO[bytes] | bytes | None = None
    checkpoint: str | os.PathLike | IO[bytes] | None = None
    extra_metadata: dict[str, Any] = field(default_factory=dict)
    # Recorded only: the share of the caller's data held out as `val_samples` (None: not said).
    validation_fraction: float | None = None

    def recipe(self) -> Recipe:
        """The recipe this configuration trains (stored in the checkpoint's metadata)."""
        return replace(
            SHIPPED_RECIPE,
            architecture=self.architecture, input_size=self.input_size, epochs=self.epochs,
            batch_size=self.batch_size, learning_rate=self.lr, weight_decay=self.weight_decay,
            warmup_epochs=self.warmup_epochs, freeze_stages=self.freeze_stages,
            outlier_exposure=self.outlier_exposure, outliers_per_batch=self.outliers_per_batch,
            seed=self.seed, validation_fraction=self.validation_fraction,
        )


@dataclass
class TrainResult:
    model: nn.Module
    labels: list[str]
    params: PreprocessParams
    ood: OODDetector
    temperature: float
    history: list[dict[str, Any]]
    metrics: dict[str, Any]
    metadata: dict[str, Any]
    checkpoint: str | os.PathLike | IO[bytes] | None = None
    checkpoint_sha256: str | None = None
    val_logits: np.ndarray | None = None
    val_targets: np.ndarray | None = None
    val_ood_scores: np.ndarray | None = None
    train_ood_scores: np.ndarray | None = None
    cancelled: bool = False
    seconds: float = 0.0


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _freeze(model: nn.Module, stages: int) -> list[nn.Module]:
    frozen = [model.conv_stem, model.bn1, *list(model.blocks)[:stages]]
    for module in frozen:
        for p in module.parameters():
            p.requires_grad_(False)
    return frozen


def _set_train_mode(model: nn.Module, frozen: list[nn.Module]) -> None:
    model.train()
    for module in frozen:
        module.eval()  # frozen BN keeps ImageNet statistics; tiny batches would corrupt them


@torch.inference_mode()
def infer(model: nn.Module, grays: Sequence[np.ndarray], params: PreprocessParams, batch_size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """Logits and penultimate features for decoded grayscale images (eval preprocessing)."""
    model.eval()
    logits, feats = [], []
    for i in range(0, len(grays), batch_size):
        batch = torch.stack([preprocess(g, params) for g in grays[i : i + batch_size]])
        z, f = forward_with_features(model, batch)
        logits.append(z.numpy())
        feats.append(f.numpy())
    return np.concatenate(logits), np.concatenate(feats)


@torch.inference_mode()
def style_descriptors(model: nn.Module, grays: Sequence[np.ndarray], params: PreprocessParams, batch_size: int = 32) -> np.ndarray:
    model.eval()
    out = [forward_style_only(model, torch.stack([preprocess(g, params) for g in grays[i : i + batch_size]])).numpy()
           for i in range(0, len(grays), batch_size)]
    return np.concatenate(out)


def fit_style_ood(model: nn.Module, grays: Sequence[np.ndarray], params: PreprocessParams,
                  config: TrainConfig) -> tuple[StyleOOD, dict[str, Any]]:
    """Fit the style detector on the training films and augmented copies of them.

    The copies teach it that borders, padding, crops, burnt-in text, contrast and gamma are
    still radiographs (fitted on plain films alone, it flagged every film with a white border).
    The threshold is the `style_quantile` of cross-fitted scores: each film scored by a fit
    that saw neither it nor its copies.
    """
    rng = np.random.default_rng(config.seed + 2)
    augment = RadiographTrainAugmentation()
    base = style_descriptors(model, grays, params)
    copies = [style_descriptors(model, [np.clip(augment(g, rng), 0, 1).astype(np.float32) for g in grays], params)
              for _ in range(config.style_augmented_copies)]
    everything = np.concatenate([base, *copies])
    film = np.tile(np.arange(len(grays)), 1 + len(copies))
    k = min(5, len(grays))
    fold_of = rng.permutation(np.arange(len(grays)) % k)
    crossfit = np.empty(len(grays))
    for fold in range(k):
        held = fold_of == fold
        crossfit[held] = StyleOOD.fit(everything[~held[film]]).score(torch.from_numpy(base[held])).numpy()
    style = StyleOOD.fit(everything)
    style.threshold = float(np.quantile(crossfit, config.style_quantile))
    info = {"method": "mahalanobis-style-ledoitwolf", "stage": "blocks.1 channel mean+std",
            "threshold": style.threshold, "n_fit": int(len(everything)),
            "threshold_source": f"q{config.style_quantile:g} of {k}-fold cross-fitted training-film scores"}
    return style, info


def _class_weights(targets: Sequence[int], k: int) -> torch.Tensor:
    counts = np.bincount(np.asarray(targets), minlength=k).astype(np.float64)
    weights = counts.sum() / (k * np.maximum(counts, 1))
    return torch.tensor(weights, dtype=torch.float32)


def _lr_lambda(total: int, warmup: int) -> Callable[[int], float]:
    def f(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))

    return f


class OutlierCrops:
    """Outlier exposure from the training films themselves: the lateral thirds of wide (torso)
    films show ribs, lungs, shoulders or pelvis but no spine. The model is taught to be
    uncertain on them, which pushes radiograph regions without a spine away from the classes."""

    def __init__(self, arrays: Sequence[np.ndarray], params: PreprocessParams, seed: int):
        self.sources = [a for a in arrays if a.shape[1] / a.shape[0] >= 0.45]
        self.params = params
        self.rng = np.random.default_rng(seed + 1)
        self.augment = RadiographTrainAugmentation(p_band_crop=0, p_pad=0.3, p_annotation=0.2)

    def sample(self, n: int) -> torch.Tensor | None:
        if not self.sources:
            return None
        crops = []
        for _ in range(n):
            img = self.sources[int(self.rng.integers(len(self.sources)))]
            w = img.shape[1]
            width = int(w * self.rng.uniform(0.15, 0.3))
            left = 0 if self.rng.random() < 0.5 else w - width
            crops.append(preprocess(self.augment(img[:, left : left + width], self.rng), self.params))
        return torch.stack(crops)


def _batch_loss(model: nn.Module, criterion: nn.Module, x: torch.Tensor, y: torch.Tensor,
                outliers: OutlierCrops | None, config: TrainConfig) -> torch.Tensor:
    extra = outliers.sample(config.outliers_per_batch) if outliers else None
    if extra is None:
        return criterion(model(x), y)
    logits = model(torch.cat([x, extra]))
    # Cross-entropy to the uniform distribution over the known classes.
    uniform = -torch.log_softmax(logits[len(x) :], dim=1).mean()
    return criterion(logits[: len(x)], y) + config.outlier_exposure * uniform


def model_from_checkpoint(source: str | os.PathLike | IO[bytes] | bytes, labels: Sequence[str]) -> tuple[nn.Module, dict[str, Any]]:
    """A model for `labels` initialised from a verified checkpoint (fine-tuning a model version).

    The backbone is copied whole; the new head gets the old head's row for every label the two
    label sets share and a fresh row for a new label. Raises CheckpointError for a bad file.
    """
    loaded = load_checkpoint(source)
    meta = loaded.metadata
    old_labels = list(meta["labels"])
    model = create_model(meta["architecture"], len(labels), pretrained=False)
    head = {k: v for k, v in loaded.state_dict.items() if k.startswith("classifier.")}
    backbone = {k: v for k, v in loaded.state_dict.items() if not k.startswith("classifier.")}
    missing, unexpected = model.load_state_dict(backbone, strict=False)
    if unexpected or set(missing) != {"classifier.weight", "classifier.bias"}:
        raise CheckpointError(f"checkpoint does not fit its declared architecture {meta['architecture']!r}")
    shared = [label for label in labels if label in old_labels]
    with torch.no_grad():
        for label in shared:
            model.classifier.weight[labels.index(label)] = head["classifier.weight"][old_labels.index(label)]
            model.classifier.bias[labels.index(label)] = head["classifier.bias"][old_labels.index(label)]
    info = {"architecture": meta["architecture"], "checkpoint_sha256": loaded.sha256,
            "name": meta.get("name"), "labels": old_labels, "head_rows_copied": shared}
    return model, info


def _ood_threshold(train_scores: np.ndarray, val_scores: np.ndarray | None, config: TrainConfig) -> tuple[float, str]:
    """The OOD threshold and a sentence saying where it came from.

    1. an explicit `ood_margin`: margin x the in-sample `ood_quantile` of the training scores;
    2. validation images: the score that flags `ood_spine_flag_budget` of them, i.e. measured on
       films neither the network nor the OOD statistics saw (in-sample scores are 2-5x lower and
       would flag almost every new film);
    3. neither: DEFAULT_OOD_MARGIN x the in-sample quantile.
    Never below the largest training score: the films the model was trained on are in distribution.
    """
    train_q = float(np.quantile(train_scores, config.ood_quantile))
    if config.ood_margin is not None:
        threshold, source = train_q * config.ood_margin, f"margin {config.ood_margin:g} x training q{config.ood_quantile:g}"
    elif val_scores is not None and len(val_scores):
        q = 1 - config.ood_spine_flag_budget
        threshold = float(np.quantile(val_scores, q))
        source = f"validation q{q:g} ({len(val_scores)} held-out films)"
    else:
        threshold = train_q * DEFAULT_OOD_MARGIN
        source = f"default margin {DEFAULT_OOD_MARGIN:g} x training q{config.ood_quantile:g} (no validation films)"
    return max(threshold, float(np.max(train_scores))), source


def library_versions() -> dict[str, str]:
    import timm
    import torchvision

    return {"torch": torch.__version__, "torchvision": torchvision.__version__, "timm": timm.__version__,
            "numpy": np.__version__, "python": platform.python_version()}


def train_model(
    train_samples: Sequence[Sample],
    val_samples: Sequence[Sample] | None = None,
    config: TrainConfig | None = None,
    progress: ProgressCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
    checkpoint: str | os.PathLike | IO[bytes] | None = None,
) -> TrainResult:
    """Fine-tune on ``train_samples``; returns the model, metrics and (if asked) a saved checkpoint.

    1. decode every image once, build the augmented training set (`_session`);
    2. train with class-weighted cross-entropy, AdamW, warm-up + cosine schedule, one
       `train_one_epoch` at a time; after each epoch `evaluate` on the validation images and
       stop early if asked (`_run_epochs`);
    3. fit the OOD statistics on the (un-augmented) training images and the temperature on the
       validation images, or take the configured one (`fit_ood_and_temperature`);
    4. save the checkpoint with its metadata (`checkpoint_metadata`).
    """
    config = config or TrainConfig()
    started = time.perf_counter()
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    seed_everything(config.seed)
    session = _session(train_samples, val_samples, config)
    history, cancelled = _run_epochs(session, progress, should_stop)
    if cancelled:
        return TrainResult(session.model, session.labels, session.params, None, 1.0, history, {}, {},
                           cancelled=True, seconds=time.perf_counter() - started)
    fitted = fit_ood_and_temperature(session)
    metadata = checkpoint_metadata(session, fitted, history, train_samples, val_samples, started)
    target = checkpoint if checkpoint is not None else config.checkpoint
    sha = save_checkpoint(target, session.model.state_dict(), fitted.detector.to_state(), metadata) if target is not None else None
    return TrainResult(session.model, session.labels, session.params, fitted.detector, fitted.temperature, history,
                       fitted.metrics, metadata, target, sha, fitted.val_logits, session.val_targets,
                       fitted.val_scores, fitted.train_scores, seconds=time.perf_counter() - started)


@dataclass
class _Session:
    """What one training run works with: data, model, optimiser. Built once by `_session`."""

    config: TrainConfig
    labels: list[str]
    params: PreprocessParams
    train_cache: DecodedCache
    train_targets: np.ndarray
    val_cache: DecodedCache | None
    val_targets: np.ndarray | None
    model: nn.Module
    init_info: dict[str, Any] | None
    frozen: list[nn.Module]
    loader: DataLoader
    optimiser: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    criterion: nn.Module
    outliers: OutlierCrops | None
    total_steps: int
    step: int = 0


def _session(train_samples: Sequence[Sample], val_samples: Sequence[Sample] | None, config: TrainConfig) -> _Session:
    labels = list(config.labels or sorted({s.label for s in train_samples}))
    params = PreprocessParams(input_size=config.input_size, input_width=config.input_width)
    train_cache = DecodedCache(train_samples, params)
    train_set = RadiographDataset(train_samples, labels, params, RadiographTrainAugmentation(), train_cache, config.seed)
    val_cache = DecodedCache(val_samples, params) if val_samples else None
    val_targets = np.array([labels.index(s.label) for s in val_samples]) if val_samples else None
    if config.init_from is not None:
        model, init_info = model_from_checkpoint(config.init_from, labels)
    else:
        model, init_info = create_model(config.architecture, len(labels), pretrained=config.pretrained), None
    frozen = _freeze(model, config.freeze_stages)
    loader = DataLoader(train_set, batch_size=config.batch_size, shuffle=True, drop_last=len(train_set) > config.batch_size,
                        generator=torch.Generator().manual_seed(config.seed))
    total_steps = config.epochs * len(loader)
    optimiser = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=config.lr, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimiser, _lr_lambda(total_steps, int(config.warmup_epochs * len(loader))))
    criterion = nn.CrossEntropyLoss(weight=_class_weights(train_set.targets, len(labels)))
    outliers = OutlierCrops(train_cache.arrays, params, config.seed) if config.outlier_exposure else None
    return _Session(config, labels, params, train_cache, np.asarray(train_set.targets), val_cache, val_targets,
                    model, init_info, frozen, loader, optimiser, scheduler, criterion, outliers, total_steps)


def train_one_epoch(session: _Session, epoch: int, progress: ProgressCallback | None = None,
                    should_stop: Callable[[], bool] | None = None) -> tuple[list[float], bool]:
    """One pass over the training loader. Returns the batch losses and whether it was stopped."""
    _set_train_mode(session.model, session.frozen)
    losses: list[float] = []
    for x, y in session.loader:
        if should_stop and should_stop():
            return losses, True
        loss = _batch_loss(session.model, session.criterion, x, y, session.outliers, session.config)
        session.optimiser.zero_grad(set_to_none=True)
        loss.backward()
        session.optimiser.step()
        session.scheduler.step()
        session.step += 1
        losses.append(loss.item())
        if progress:
            progress({"epoch": epoch, "epochs": session.config.epochs, "step": session.step,
                      "total_steps": session.total_steps, "loss": loss.item()})
    return losses, False


def evaluate(model: nn.Module, cache: DecodedCache, targets: np.ndarray, params: PreprocessParams,
             labels: Sequence[str]) -> dict[str, float]:
    """Validation loss, accuracy, balanced accuracy and macro-F1 of `model` (no augmentation)."""
    logits, _ = infer(model, cache.arrays, params)
    record = {"val_loss": float(nn.functional.cross_entropy(torch.from_numpy(logits), torch.from_numpy(targets)).item())}
    metrics = compute_metrics(softmax(logits), targets, list(labels))
    record.update({f"val_{k}": metrics[k] for k in ("accuracy", "balanced_accuracy", "macro_f1")})
    return record


def _run_epochs(session: _Session, progress: ProgressCallback | None,
                should_stop: Callable[[], bool] | None) -> tuple[list[dict[str, Any]], bool]:
    """Every epoch, with early stopping on the validation loss; leaves the best model in eval mode."""
    config, history = session.config, []
    best: tuple[float, dict | None, int] = (float("inf"), None, 0)  # (val loss, state, epoch)
    cancelled = False
    for epoch in range(1, config.epochs + 1):
        losses, cancelled = train_one_epoch(session, epoch, progress, should_stop)
        if cancelled:
            break
        record: dict[str, Any] = {"epoch": epoch, "train_loss": float(np.mean(losses)), "step": session.step,
                                  "total_steps": session.total_steps}
        if session.val_cache:
            record.update(evaluate(session.model, session.val_cache, session.val_targets, session.params, session.labels))
        history.append(record)
        if progress:
            progress({**record, "epochs": config.epochs, "loss": record["train_loss"], "end_of_epoch": True})
        if config.early_stopping_patience and session.val_cache:
            if record["val_loss"] < best[0]:
                best = (record["val_loss"], copy.deepcopy(session.model.state_dict()), epoch)
            elif epoch - best[2] >= config.early_stopping_patience:
                break
    if best[1] is not None:
        session.model.load_state_dict(best[1])
    session.model.eval()
    return history, cancelled


@dataclass
class _Fitted:
    """The trained model's OOD detectors, temperature and final metrics."""

    detector: OODDetector
    semantic: MahalanobisOOD
    threshold_source: str
    style_info: dict[str, Any] | None
    temperature: float
    metrics: dict[str, Any]
    train_scores: np.ndarray
    val_logits: np.ndarray | None
    val_scores: np.ndarray | None


def fit_ood_and_temperature(session: _Session) -> _Fitted:
    """OOD statistics from the un-augmented training images; the temperature from the
    validation images (or the configured one); train and validation metrics."""
    config, model, params = session.config, session.model, session.params
    train_logits, train_feats = infer(model, session.train_cache.arrays, params)
    ood = MahalanobisOOD.fit(train_feats, session.train_targets, len(session.labels))
    train_scores = ood.score(torch.from_numpy(train_feats)).numpy()
    metrics: dict[str, Any] = {"train": compute_metrics(softmax(train_logits), session.train_targets, session.labels)}
    temperature = config.temperature or 1.0
    val_logits = val_feats = val_scores = None
    if session.val_cache:
        val_logits, val_feats = infer(model, session.val_cache.arrays, params)
        val_scores = ood.score(torch.from_numpy(val_feats)).numpy()
    ood.threshold, source = _ood_threshold(train_scores, val_scores, config)
    style, style_info = fit_style_ood(model, session.train_cache.arrays, params, config) if config.style_ood else (None, None)
    # The floor only means "foreign" if the model was actually taught to be unsure on spine-free
    # crops; a set without wide films gives no crops, and then a low top probability is a hard film.
    exposed = session.outliers is not None and bool(session.outliers.sources)
    floor = config.confidence_floor if config.confidence_floor is not None else (0.5 if exposed else None)
    detector = OODDetector(ood, style, floor)
    if session.val_cache:
        if config.temperature is None:
            temperature = fit_temperature(val_logits, session.val_targets)
        metrics["val"] = _validation_metrics(session, detector, val_logits, val_feats, temperature)
    return _Fitted(detector, ood, source, style_info, temperature, metrics, train_scores, val_logits, val_scores)


def _validation_metrics(session: _Session, detector: OODDetector, val_logits: np.ndarray,
                        val_feats: np.ndarray, temperature: float) -> dict[str, Any]:
    metrics = compute_metrics(softmax(val_logits, temperature), session.val_targets, session.labels)
    val_style = (torch.from_numpy(style_descriptors(session.model, session.val_cache.arrays, session.params))
                 if detector.style else None)
    val_probs = torch.from_numpy(softmax(val_logits, temperature))
    flagged = detector.score(torch.from_numpy(val_feats), val_style, val_probs) > 1.0
    metrics["ood_flag_rate"] = float(flagged.float().mean())
    return metrics


def checkpoint_metadata(session: _Session, fitted: _Fitted, history: list[dict[str, Any]],
                        train_samples: Sequence[Sample], val_samples: Sequence[Sample] | None,
                        started: float) -> dict[str, Any]:
    """Everything a checkpoint says about itself: architecture, labels, preprocessing,
    calibration, OOD detectors, metrics, recipe, data fingerprint, library versions."""
    config, params, ood, labels = session.config, session.params, fitted.semantic, session.labels
    train_q = float(np.quantile(fitted.train_scores, config.ood_quantile))
    return {
        "architecture": session.init_info["architecture"] if session.init_info else config.architecture,
        "initialised_from": session.init_info or ("imagenet" if config.pretrained else "random"),
        "labels": labels,
        "input_size": list(params.canvas_shape),
        "preprocessing": params.to_dict(),
        "normalisation": {"mean": params.mean, "std": params.std, "channels": "grayscale replicated x3"},
        "temperature": fitted.temperature,
        "ood": {"method": "mahalanobis-penultimate-tied-ledoitwolf", "threshold": ood.threshold,
                "train_quantile": config.ood_quantile, "margin": ood.threshold / train_q,
                "threshold_source": fitted.threshold_source, "style": fitted.style_info,
                "confidence_floor": fitted.detector.confidence_floor,
                "score": "max over detectors of distance / threshold; above 1.0 is out of distribution",
                "train_score_quantiles": {str(q): float(np.quantile(fitted.train_scores, q)) for q in (0.5, 0.9, 0.95, 0.99, 1.0)}},
        "metrics": fitted.metrics,
        "recipe": config.recipe().as_dict(),
        "training": {k: v for k, v in asdict(config).items() if k not in ("checkpoint", "extra_metadata", "init_from")},
        "history": history,
        "data": {"fingerprint_sha256": data_fingerprint(train_samples), "n_train": len(train_samples),
                 "n_val": len(val_samples or []),
                 "class_counts": {c: int((session.train_targets == i).sum()) for i, c in enumerate(labels)},
                 "n_groups": len(set(group_ids(train_samples)))},
        "library_versions": library_versions(),
        "created_unix": time.time(),
        "training_seconds": round(time.perf_counter() - started, 1),
        **config.extra_metadata,
    }
