"""Train the vertebra landmark model (``inference.engine.landmark_model``) on AP films with labels.

1. Decode every film once (the shared decode), keep its 68 landmarks in decoded pixels.
2. Hold out a patient-grouped slice of the training films as an internal validation set: it
   sets the measurability thresholds and the OOD threshold, which must come from films the
   model did not fit.
3. Train on the rest within a wall-clock budget (the CPU is shared, epochs are not a useful
   unit): the learning rate follows a cosine over the budget, not over a step count.
4. Fit the OOD scorer on every training film's pooled features (a Gaussian, or optionally their
   whitened nearest films), measure the validation films, set the thresholds, save one checkpoint.

A run can continue an earlier one (``init_checkpoint``): the earlier weights are loaded before
step 1, the optimiser starts fresh (hence the warm-up) and the cosine runs over the new budget,
so a continuation usually wants a lower peak ``lr``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import os
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import IO, Any

import numpy as np
import torch
from torch.nn import functional as F

from inference.engine.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from inference.engine.cobb import NUM_LANDMARKS, NUM_VERTEBRAE, VERTEBRAE, cobb_angles
from inference.engine.landmark_model import (
    LANDMARK_ARCHITECTURE,
    STRIDE,
    LandmarkNet,
    cell_centres,
    soft_landmarks,
)
from inference.engine.landmark_predictor import (
    LANDMARK_FORMAT,
    LandmarkEvidence,
    LandmarkPredictor,
    MeasurabilityThresholds,
    canvas_to_image,
    image_to_canvas,
    not_measured_reason,
)
from inference.engine.model import DEFAULT_ARCHITECTURE
from inference.engine.ood import MahalanobisOOD, NearestFilmsOOD
from inference.engine.preprocessing import PreprocessParams, decode_image, preprocess_with_box

from .landmark_augment import LandmarkTrainAugmentation

ProgressCallback = Callable[[dict[str, Any]], None]


@dataclass
class LandmarkSample:
    """One AP film: its image, 68 landmarks as fractions of its width and height, its patient."""

    image: str | os.PathLike | bytes | Callable[[], bytes]
    points: np.ndarray  # (68, 2) fractions (x / width, y / height)
    group: str
    fold: int | None = None
    angles: tuple[float, float, float] | None = None  # the reference pt, mt, tl
    label: str = "landmarks"  # lets cv.grouped_holdout stratify like classifier samples

    def read(self) -> str | os.PathLike | bytes:
        return self.image() if callable(self.image) else self.image


def samples_from_labels_csv(folder: str | os.PathLike) -> list[LandmarkSample]:
    """The AASCE layout: ``labels.csv`` (file, group, fold, cobb_*, x0..x67, y0..y67) + images."""
    root = Path(folder)
    with open(root / "labels.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    samples = []
    for row in rows:
        points = np.array([[float(row[f"x{i}"]), float(row[f"y{i}"])] for i in range(NUM_LANDMARKS)])
        angles = tuple(float(row[k]) for k in ("cobb_pt", "cobb_mt", "cobb_tl")) if row.get("cobb_pt") else None
        fold = int(row["fold"]) if row.get("fold", "") != "" else None
        samples.append(LandmarkSample(root / row["file"], points, row["group"], fold, angles))
    return samples


def grouped_validation_split(samples: Sequence[LandmarkSample], fraction: float,
                             seed: int) -> tuple[list[LandmarkSample], list[LandmarkSample]]:
    """Whole patients, drawn at random, until ``fraction`` of the films are in validation."""
    groups = sorted({s.group for s in samples})
    if fraction <= 0 or len(groups) < 2:
        return list(samples), []
    chosen: set[str] = set()
    count = {g: 0 for g in groups}
    for s in samples:
        count[s.group] += 1
    for g in np.random.default_rng(seed).permutation(groups):
        if sum(count[c] for c in chosen) >= fraction * len(samples) or len(chosen) == len(groups) - 1:
            break
        chosen.add(str(g))
    return [s for s in samples if s.group not in chosen], [s for s in samples if s.group in chosen]


def checkpoint_split(metadata: dict[str, Any], samples: Sequence[LandmarkSample],
                     ) -> tuple[LandmarkTrainConfig, list[LandmarkSample], list[LandmarkSample]]:
    """A trained checkpoint's config and its own training and internal validation films, recomputed
    from its metadata (seed, validation share, held-out fold) over ``samples``."""
    known = {f.name for f in fields(LandmarkTrainConfig)}
    config = LandmarkTrainConfig(**{k: v for k, v in metadata["training"].items() if k in known})
    held = metadata.get("held_out_fold")
    train, val = grouped_validation_split([s for s in samples if held is None or s.fold != held],
                                          config.val_fraction, config.seed)
    return config, train, val


def landmark_fingerprint(samples: Sequence[LandmarkSample]) -> str:
    """SHA-256 over each film's content hash and its landmarks, order independent."""
    digests = []
    for s in samples:
        data = s.read()
        raw = Path(data).read_bytes() if isinstance(data, str | os.PathLike) else bytes(data)
        digests.append(hashlib.md5(raw).hexdigest() + ":" + hashlib.md5(np.round(s.points, 5).tobytes()).hexdigest())
    return hashlib.sha256("\n".join(sorted(digests)).encode()).hexdigest()


@dataclass
class LandmarkTrainConfig:
    backbone: str = DEFAULT_ARCHITECTURE
    # 384 x 192 rather than 512 x 256: on a shared 2-core CPU the budget buys ~1.8x more steps,
    # and sub-pixel soft-argmax keeps the corners finer than the stride-8 grid.
    input_size: int = 384  # canvas height
    input_width: int = 192
    head_width: int = 96
    batch_size: int = 8
    lr: float = 1e-3
    backbone_lr_factor: float = 0.5
    weight_decay: float = 1e-4
    warmup_steps: int = 50
    time_budget_s: float = 35 * 60.0  # the training loop's wall clock; epochs follow from it
    # A step budget instead: the schedule follows steps, so a run reproduces on a busy CPU (the
    # time budget then only caps the wall clock). None: the schedule follows the wall clock.
    max_steps: int | None = None
    max_epochs: int = 200
    freeze_stages: int = 2  # stem + first stages keep ImageNet weights (and cost no backward)
    heatmap_weight: float = 0.5  # keeps each vertebra's map peaked: its peak mass is the confidence
    heatmap_sigma_cells: float = 1.0
    tilt_weight: float = 2.0  # the angles are tilt differences: supervise the tilt directly
    val_fraction: float = 0.1  # internal, patient-grouped: sets the not-measured thresholds
    seed: int = 0
    num_threads: int | None = None
    pretrained: bool = True
    decode_max_side: int = 640
    # How far beyond the validation films' evidence the thresholds sit. The confidence floor
    # and the OOD limit scale a robust statistic of the ~40 validation films (their q10 and
    # median), not an extreme one: q02 / q99 of 40 films is one film. On the fold-3 CV model one
    # validation film at 2.2 x the median distance put the old limit (1.25 x q99) at 2.6 x the
    # median, and 14 of 63 lumbar/lateral films were measured; at 1.75 x the median, 2.
    confidence_quantile: float = 0.1
    confidence_factor: float = 0.6
    ood_quantile: float = 0.5
    ood_margin: float = 1.75
    geometry_margin: float = 0.15
    geometry_quantile: float = 0.02
    ood_fit_films: int | None = None  # the OOD Gaussian's fit films; None: every training film
    # The OOD distance: the mean whitened distance to this many nearest training films (0: the
    # distance to the Gaussian's centre). Severe curves are rare in training: far from the centre,
    # near the few films like them. On the shipped model's fold the centre's limit refused 6 AP
    # films (all 52-77 deg curves) and 36 of 150 Fraiwan scoliosis films, 5 nearest films' limit
    # 3 and 10, each refusing 62 of the 63 lumbar/lateral films (bench/landmarks_ood_study.py).
    # Off: on four folds blind to it (1-4) it measured no further AP film (380 of 391 either way)
    # and let in 4 more lumbar/lateral films (7 -> 11 of 252); see the landmark model card.
    ood_neighbours: int = 0
    # Severe curves are rare and measured low (and the most often refused): each training film
    # whose largest reference angle is >= ``severe_angle`` appears ``severe_repeat`` times per
    # epoch. The step budget is unchanged; only the mix of films it sees shifts towards them.
    # Twice: over folds 0-3 it measured 387 of 402 AP films against 384 and cut the pooled MAE of
    # the largest angle 4.60 -> 3.87 deg (decision rule written before the round; landmark card).
    severe_repeat: int = 2
    severe_angle: float = 50.0
    augment: bool = True  # off only to overfit a handful of films in tests
    # Warm start: an earlier landmark checkpoint of the same architecture and canvas (its weights
    # only; the optimiser, OOD Gaussian and thresholds are refitted). Keep ``seed`` and
    # ``val_fraction`` as they were so its held-back validation films stay unseen.
    init_checkpoint: str | None = None
    shuffle_seed: int | None = None  # batch order and augmentation draws; None: ``seed``
    extra_metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.severe_repeat < 1:
            raise ValueError(f"severe_repeat must be at least 1, got {self.severe_repeat}")

    def params(self) -> PreprocessParams:
        return PreprocessParams(input_size=self.input_size, input_width=self.input_width,
                                decode_max_side=self.decode_max_side)


@dataclass
class LandmarkTrainResult:
    model: LandmarkNet
    predictor: LandmarkPredictor
    metadata: dict[str, Any]
    history: list[dict[str, Any]]
    checkpoint_sha256: str | None
    seconds: float


def left_to_right(points: np.ndarray) -> np.ndarray:
    """(68, 2) landmarks with each endplate's two corners in left-to-right order.

    Two AASCE films carry a label error: one has L5's left and right corners swapped, one has
    L4's bottom corners swapped. A training target must not teach a swap (the tilt loss charges
    one fully), so the corners of an endplate whose right corner lies left of its left one trade
    places; endplates already in order are returned as they are.
    """
    corners = np.array(points, dtype=np.float64).reshape(-1, 2, 2, 2)  # vertebra, endplate, side, xy
    swapped = corners[:, :, 1, 0] < corners[:, :, 0, 0]
    corners[swapped] = corners[swapped][:, ::-1]
    return corners.reshape(-1, 2)


def top_to_bottom(points: np.ndarray) -> np.ndarray:
    """(68, 2) landmarks with the 17 vertebrae in top-to-bottom order of their centres.

    The AASCE labels list T1-L5 top to bottom, but 24 of the 481 films do not: on 19 the first
    vertebra's corners come last (the list reads T2 ... L5, T1, so every heat-map target would
    name the vertebra below); on the other 5 one vertebra is listed out of place, and on three
    of those two neighbours are labelled on (nearly) one vertebra, which no order repairs.
    Sorted, each target names the vertebra at its position; a film already in order is returned
    as it is. The reference angles are the challenge's and are not recomputed.
    """
    vertebrae = np.array(points, dtype=np.float64).reshape(-1, 4, 2)
    order = np.argsort(vertebrae.mean(axis=1)[:, 1], kind="stable")
    return vertebrae[order].reshape(-1, 2)


class DecodedFilms:
    """Each film decoded once (uint8 to keep 481 films in ~80 MB) with landmarks in its pixels."""

    def __init__(self, samples: Sequence[LandmarkSample], params: PreprocessParams):
        self.images: list[np.ndarray] = []
        self.points: list[np.ndarray] = []
        for s in samples:
            pixels = decode_image(s.read(), params.decode_max_side).pixels
            self.images.append(np.round(pixels * 255).astype(np.uint8))
            h, w = pixels.shape
            self.points.append(left_to_right(top_to_bottom(s.points)) * np.array([w, h], dtype=np.float64))

    def gray(self, index: int) -> np.ndarray:
        return self.images[index].astype(np.float32) / 255.0


def canvas_targets(gray: np.ndarray, points: np.ndarray, params: PreprocessParams) -> tuple[torch.Tensor, np.ndarray]:
    """The shared preprocessing on the film, and its landmarks moved onto the canvas."""
    tensor, box = preprocess_with_box(gray, params)
    h, w = gray.shape
    return tensor, image_to_canvas(points, box, (w, h))


def tilt_error(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """A vertebra's tilt error between unit left-to-right axes ``a`` and ``b`` (..., 2), in [0, 2].

    |sin| of the angle between them while they point the same way, 2 - |sin| once they point
    apart. |sin| alone is blind to a left/right corner swap (the axis turned by 180 deg reads as
    no error), so only the corner L1 pulled against one: the likely reason one CV run's model
    (fold 4, second round of 2026-12-03) kept one vertebra's corners swapped on every film and
    read every angle near 179 deg. Here the swap costs the most, and the error still grows like
    |angle| near zero, where |sin| did. Retrained on this loss, fold 4 came out sane (card).
    """
    sin = (a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]).abs()
    cos = (a * b).sum(dim=-1)
    return torch.where(cos >= 0, sin, 2 - sin)


def landmark_loss(heat: torch.Tensor, offsets: torch.Tensor, target: torch.Tensor,
                  config: LandmarkTrainConfig) -> tuple[torch.Tensor, dict[str, float]]:
    """Corner L1 (in stride cells) + vertebra tilt + cross-entropy to a Gaussian at each centre."""
    corners, centres, _ = soft_landmarks(heat, offsets)
    tgt = target.view(-1, NUM_VERTEBRAE, 4, 2)
    point_loss = (corners - tgt).abs().mean() / STRIDE

    def axis(c: torch.Tensor) -> torch.Tensor:
        v = (c[:, :, 1] + c[:, :, 3] - c[:, :, 0] - c[:, :, 2]) / 2
        return v / v.norm(dim=-1, keepdim=True).clamp_min(1e-6)

    tilt_loss = tilt_error(axis(corners), axis(tgt)).mean()

    bsz, v, h, w = heat.shape
    grid_x, grid_y = cell_centres(h, w, heat.dtype)
    tc = tgt.mean(dim=2)
    sigma = config.heatmap_sigma_cells * STRIDE
    d2 = (grid_x - tc[..., 0, None, None]) ** 2 + (grid_y - tc[..., 1, None, None]) ** 2
    gauss = torch.exp(-d2 / (2 * sigma**2))
    gauss = gauss / gauss.sum(dim=(2, 3), keepdim=True).clamp_min(1e-12)
    log_p = F.log_softmax(heat.flatten(2), dim=-1).view(bsz, v, h, w)
    heat_loss = -(gauss * log_p).sum(dim=(2, 3)).mean()
    total = point_loss + config.tilt_weight * tilt_loss + config.heatmap_weight * heat_loss
    return total, {"points": float(point_loss.detach()), "tilt": float(tilt_loss.detach()),
                   "heat": float(heat_loss.detach())}


def _freeze(model: LandmarkNet, stages: int) -> list[torch.nn.Module]:
    frozen = [model.stem, *list(model.blocks)[:stages]]
    for module in frozen:
        for p in module.parameters():
            p.requires_grad_(False)
    return frozen


def _optimizer(model: LandmarkNet, config: LandmarkTrainConfig) -> torch.optim.Optimizer:
    backbone = [p for p in model.blocks.parameters() if p.requires_grad]
    backbone_ids = {id(p) for p in backbone}
    head = [p for p in model.parameters() if p.requires_grad and id(p) not in backbone_ids]
    return torch.optim.AdamW([
        {"params": backbone, "lr": config.lr * config.backbone_lr_factor, "base_lr": config.lr * config.backbone_lr_factor},
        {"params": head, "lr": config.lr, "base_lr": config.lr},
    ], weight_decay=config.weight_decay)


def _schedule(optimizer: torch.optim.Optimizer, step: int, progress: float, config: LandmarkTrainConfig) -> None:
    warm = min(1.0, (step + 1) / max(1, config.warmup_steps))
    factor = warm * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    for group in optimizer.param_groups:
        group["lr"] = group["base_lr"] * max(factor, 0.02)


def evidence_for(model: LandmarkNet, ood: MahalanobisOOD | NearestFilmsOOD | None, films: DecodedFilms, indices: Sequence[int],
                 params: PreprocessParams) -> list[tuple[LandmarkEvidence, np.ndarray]]:
    """Serving-path evidence for decoded films, plus each film's landmarks in its own pixels."""
    predictor = LandmarkPredictor(model, ood or _null_ood(model), MeasurabilityThresholds(), {
        "preprocessing": params.to_dict()}, "")
    out = []
    for i in indices:
        gray = films.gray(i)
        tensor, box = preprocess_with_box(gray, params)
        ev = predictor.evidence(tensor.unsqueeze(0))[0]
        h, w = gray.shape
        out.append((ev, canvas_to_image(ev.measured_corners.reshape(-1, 2), box, (w, h))))
    model.train()
    return out


def _null_ood(model: LandmarkNet) -> MahalanobisOOD:
    dim = model.lateral32.in_channels
    return MahalanobisOOD(torch.zeros(1, dim), torch.zeros(dim, dim), float("inf"))


@torch.inference_mode()
def pooled_features(model: LandmarkNet, films: DecodedFilms, indices: Sequence[int], params: PreprocessParams) -> np.ndarray:
    model.eval()
    feats = [model(preprocess_with_box(films.gray(i), params)[0].unsqueeze(0))[2].numpy() for i in indices]
    model.train()
    return np.concatenate(feats)


def fit_thresholds(evidence: Sequence[LandmarkEvidence], config: LandmarkTrainConfig) -> tuple[MeasurabilityThresholds, dict[str, Any]]:
    """Thresholds just beyond what the validation films (unseen by the fit) show."""
    defaults = MeasurabilityThresholds()
    if not evidence:
        return defaults, {"source": "defaults (no validation films)"}
    film_min_conf = np.array([e.confidence.min() for e in evidence])
    dist = np.array([e.ood_distance for e in evidence])
    geo = {k: np.array([e.geometry()[k] for e in evidence]) for k in evidence[0].geometry()}
    m, q = config.geometry_margin, config.geometry_quantile
    # Validation films' spread of vertebra heights, widened by the margin and kept inside sanity
    # bounds. The steps between vertebrae and the endplate tilt are fixed bounds
    # (MeasurabilityThresholds.FIXED): a long lumbar step is normal, and a fitted longest-step
    # limit refused mostly good films; a near-zero step is a vertebra found twice.
    limits = replace(
        defaults,
        min_confidence=float(np.quantile(film_min_conf, config.confidence_quantile) * config.confidence_factor),
        ood_distance=float(np.quantile(dist, config.ood_quantile) * config.ood_margin),
        min_height_ratio=float(np.clip(np.quantile(geo["min_height_ratio"], q) * (1 - m), 0.2, defaults.min_height_ratio)),
        max_height_ratio=float(np.clip(np.quantile(geo["max_height_ratio"], 1 - q) * (1 + m), defaults.max_height_ratio, 2.0)),
    )
    info = {"source": f"{len(evidence)} patient-grouped validation films the model did not train on",
            "confidence": f"{config.confidence_factor} x q{config.confidence_quantile} of each film's weakest vertebra",
            "ood": f"{config.ood_margin} x q{config.ood_quantile} of validation distances",
            "geometry": f"validation q{q:g}/q{1 - q:g} widened by {m:.0%}, within sanity bounds; "
                        f"shortest step {defaults.min_spacing_ratio:g} x the median step (fixed), no longest-step limit"}
    return limits, info


def angle_errors(samples: Sequence[LandmarkSample], films: DecodedFilms, indices: Sequence[int],
                 evidence: Sequence[tuple[LandmarkEvidence, np.ndarray]], original_heights: Sequence[float] | None = None) -> dict[str, float]:
    """Largest-angle MAE on validation films from predicted landmarks (decoded pixel space)."""
    errors = []
    for i, (_, points) in zip(indices, evidence, strict=True):
        if samples[i].angles is None:
            continue
        h = films.images[i].shape[0]
        try:
            errors.append(abs(cobb_angles(points, h).pt - samples[i].angles[0]))
        except ValueError:
            continue
    return {"largest_mae": float(np.mean(errors)) if errors else float("nan"), "n": len(errors)}


def library_versions() -> dict[str, str]:
    import timm

    return {"torch": torch.__version__, "timm": timm.__version__, "numpy": np.__version__,
            "python": platform.python_version()}


def load_init_weights(model: LandmarkNet, path: str | os.PathLike, config: LandmarkTrainConfig) -> str:
    """Warm start: an earlier landmark checkpoint's weights, strictly, if it is the same model.

    The checkpoint is read with ``weights_only=True`` and its integrity digest checked; its
    architecture, backbone, head width and canvas size must be this run's, or it is refused.
    Returns the file's SHA-256 (recorded in the metadata).
    """
    loaded = load_checkpoint(path, expected_format=LANDMARK_FORMAT)
    meta = loaded.metadata
    pre = meta.get("preprocessing", {})
    found = (meta.get("architecture"), meta.get("backbone"), meta.get("head_width"),
             pre.get("input_size"), pre.get("input_width"))
    wanted = (LANDMARK_ARCHITECTURE, config.backbone, config.head_width, config.input_size, config.input_width)
    if found != wanted:
        raise CheckpointError(f"init checkpoint {path} is (architecture, backbone, head width, height, width) "
                         f"{found}, this run is {wanted}")
    model.load_state_dict({k: v.float() for k, v in loaded.state_dict.items()}, strict=True)
    return loaded.sha256


@dataclass
class _Run:
    """What the training steps share: the decoded films, their split, the model and its optimiser."""

    config: LandmarkTrainConfig
    params: PreprocessParams
    train_set: list[LandmarkSample]
    val_set: list[LandmarkSample]
    films: DecodedFilms
    model: LandmarkNet
    frozen: list[torch.nn.Module]
    optimizer: torch.optim.Optimizer
    rng: np.random.Generator
    init_sha256: str | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    step: int = 0
    epoch: int = 0
    train_seconds: float = 0.0

    @property
    def train_idx(self) -> list[int]:
        return list(range(len(self.train_set)))

    @property
    def val_idx(self) -> list[int]:
        return list(range(len(self.train_set), len(self.train_set) + len(self.val_set)))


def _prepare(samples: Sequence[LandmarkSample], config: LandmarkTrainConfig) -> _Run:
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    torch.manual_seed(config.seed)
    params = config.params()
    # The seed fixes the validation split (so a warm start keeps the first run's held-back
    # films unseen); the shuffle seed, when given, only changes batch order and augmentation.
    train_set, val_set = grouped_validation_split(list(samples), config.val_fraction, config.seed)
    films = DecodedFilms(train_set + val_set, params)
    model = LandmarkNet(config.backbone, pretrained=config.pretrained and not config.init_checkpoint,
                        width=config.head_width)
    init_sha = load_init_weights(model, config.init_checkpoint, config) if config.init_checkpoint else None
    # Channels-last makes the depthwise convolutions' backward pass several times faster on CPU.
    model = model.to(memory_format=torch.channels_last)
    frozen = _freeze(model, config.freeze_stages)
    rng = np.random.default_rng(config.seed if config.shuffle_seed is None else config.shuffle_seed)
    return _Run(config, params, train_set, val_set, films, model, frozen, _optimizer(model, config), rng, init_sha)


def _batch(run: _Run, indices: Sequence[int], augment: LandmarkTrainAugmentation | None) -> tuple[torch.Tensor, torch.Tensor]:
    inputs, targets = [], []
    for i in indices:
        gray, pts = run.films.gray(int(i)), run.films.points[int(i)]
        if augment is not None:
            gray, pts = augment(gray, pts, run.rng)
        tensor, canvas_pts = canvas_targets(gray, pts, run.params)
        inputs.append(tensor)
        targets.append(torch.from_numpy(canvas_pts.astype(np.float32)))
    return torch.stack(inputs).contiguous(memory_format=torch.channels_last), torch.stack(targets)


def _train_step(run: _Run, inputs: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
    heat, offsets, _ = run.model(inputs)
    loss, parts = landmark_loss(heat, offsets, targets, run.config)
    run.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(run.model.parameters(), 5.0)
    run.optimizer.step()
    run.step += 1
    return {"loss": float(loss.detach()), **parts}


def _progress(run: _Run, elapsed: float) -> float:
    """How far through its budget the run is: by steps when it has a step budget, else by time."""
    config = run.config
    by_time = elapsed / config.time_budget_s if config.time_budget_s > 0 else 1.0
    if config.max_steps is None:
        return by_time
    by_steps = run.step / config.max_steps if config.max_steps > 0 else 1.0
    return by_steps if by_time < 1.0 else 1.0


def epoch_films(train_set: Sequence[LandmarkSample], config: LandmarkTrainConfig) -> list[int]:
    """The training films' indices one epoch draws (before shuffling): every film once, and each
    severe curve (largest reference angle >= ``config.severe_angle``) ``config.severe_repeat``
    times in all. A film without reference angles counts once."""
    indices = list(range(len(train_set)))
    severe = [i for i, s in enumerate(train_set)
              if s.angles is not None and max(s.angles) >= config.severe_angle]
    return indices + severe * (config.severe_repeat - 1)


def _run_epoch(run: _Run, loop_start: float, augment: LandmarkTrainAugmentation | None,
               should_stop: Callable[[], bool] | None) -> tuple[dict[str, float], int, bool]:
    """One pass over the shuffled training films; stops early at the budget. (sums, batches, stop)."""
    config = run.config
    run.model.train()
    for module in run.frozen:
        module.eval()  # frozen BN keeps ImageNet statistics
    order = run.rng.permutation(epoch_films(run.train_set, config))
    sums: dict[str, float] = {}
    batches = 0
    for b in range(0, len(order), config.batch_size):
        elapsed = time.perf_counter() - loop_start
        progress = _progress(run, elapsed)
        if progress >= 1.0 or (should_stop and should_stop()):
            return sums, batches, True
        inputs, targets = _batch(run, order[b : b + config.batch_size], augment)
        _schedule(run.optimizer, run.step, progress, config)
        for k, v in _train_step(run, inputs, targets).items():
            sums[k] = sums.get(k, 0.0) + v
        batches += 1
    return sums, batches, False


def _train_loop(run: _Run, start: float, progress: ProgressCallback | None,
                should_stop: Callable[[], bool] | None) -> None:
    augment = LandmarkTrainAugmentation() if run.config.augment else None
    loop_start = time.perf_counter()
    stop = False
    while run.epoch < run.config.max_epochs and not stop:
        sums, batches, stop = _run_epoch(run, loop_start, augment, should_stop)
        if not batches:
            break
        run.epoch += 1
        record = {"epoch": run.epoch, "steps": run.step, "seconds": round(time.perf_counter() - start, 1),
                  **{k: round(v / batches, 4) for k, v in sums.items()}}
        run.history.append(record)
        if progress:
            progress(record)
    run.train_seconds = time.perf_counter() - loop_start


@dataclass
class ServingParts:
    """What a trained network needs besides its weights to serve: the OOD scorer and limits."""

    ood: MahalanobisOOD | NearestFilmsOOD
    limits: MeasurabilityThresholds
    threshold_info: dict[str, Any]
    val_metrics: dict[str, Any]


def fit_serving_parts(model: LandmarkNet, samples: Sequence[LandmarkSample], films: DecodedFilms,
                      train_idx: Sequence[int], val_idx: Sequence[int], config: LandmarkTrainConfig,
                      rng: np.random.Generator | None = None) -> ServingParts:
    """OOD scorer on training films, thresholds and validation metrics on the held-back films.

    ``samples[i]`` and ``films`` index ``i`` are the same film. Also refits an already trained
    checkpoint (``bench/landmarks_rethreshold.py``): nothing here depends on the training loop.
    """
    params = config.params()
    model.eval()
    ood_idx = list(train_idx)
    if config.ood_fit_films is not None and config.ood_fit_films < len(ood_idx):
        ood_idx = sorted((rng or np.random.default_rng(config.seed)).permutation(ood_idx)[: config.ood_fit_films].tolist())
    feats = pooled_features(model, films, ood_idx, params)
    ood = (NearestFilmsOOD.fit(feats, config.ood_neighbours) if config.ood_neighbours
           else MahalanobisOOD.fit(feats, np.zeros(len(feats), dtype=int), 1))
    val_evidence = evidence_for(model, ood, films, val_idx, params)
    limits, threshold_info = fit_thresholds([e for e, _ in val_evidence], config)
    model.eval()
    val_metrics = angle_errors(list(samples), films, val_idx, val_evidence) if val_idx else {}
    if val_evidence:
        val_metrics["measured_share"] = float(np.mean([not_measured_reason(e, limits) is None for e, _ in val_evidence]))
    return ServingParts(ood, limits, threshold_info, val_metrics)


def _fit_serving_parts(run: _Run) -> ServingParts:
    run.model = run.model.to(memory_format=torch.contiguous_format)
    return fit_serving_parts(run.model, run.train_set + run.val_set, run.films, run.train_idx, run.val_idx,
                             run.config, run.rng)


def _metadata(run: _Run, samples: Sequence[LandmarkSample], parts: ServingParts) -> dict[str, Any]:
    config = run.config
    training = {**{k: v for k, v in asdict(config).items() if k != "extra_metadata"},
                "epochs_run": run.epoch, "steps": run.step, "train_loop_seconds": round(run.train_seconds, 1),
                "n_train": len(run.train_set), "n_validation": len(run.val_set)}
    if run.init_sha256:
        training["init_checkpoint_sha256"] = run.init_sha256
    return {
        "kind": "landmarks",
        "architecture": LANDMARK_ARCHITECTURE,
        "backbone": config.backbone,
        "head_width": config.head_width,
        "vertebrae": list(VERTEBRAE),
        "preprocessing": run.params.to_dict(),
        "measurability": parts.limits.to_dict(),
        "measurability_source": parts.threshold_info,
        "training": training,
        "training_data_fingerprint": landmark_fingerprint(samples),
        "validation_metrics": parts.val_metrics,
        "history": run.history[-5:],
        "library_versions": library_versions(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **config.extra_metadata,
    }


def train_landmarks(
    samples: Sequence[LandmarkSample],
    config: LandmarkTrainConfig | None = None,
    checkpoint: str | os.PathLike | IO[bytes] | None = None,
    progress: ProgressCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> LandmarkTrainResult:
    config = config or LandmarkTrainConfig()
    start = time.perf_counter()
    samples = list(samples)
    run = _prepare(samples, config)
    _train_loop(run, start, progress, should_stop)
    parts = _fit_serving_parts(run)
    metadata = _metadata(run, samples, parts)
    sha = None
    if checkpoint is not None:
        sha = save_checkpoint(checkpoint, run.model.state_dict(), parts.ood.to_state(), metadata, format=LANDMARK_FORMAT)
    predictor = LandmarkPredictor(run.model, parts.ood, parts.limits, metadata, sha or "")
    return LandmarkTrainResult(run.model, predictor, metadata, run.history, sha, time.perf_counter() - start)


def checkpoint_bytes(result: LandmarkTrainResult) -> bytes:
    buffer = io.BytesIO()
    save_checkpoint(buffer, result.model.state_dict(), result.predictor.ood.to_state(), result.metadata,
                    format=LANDMARK_FORMAT)
    return buffer.getvalue()
