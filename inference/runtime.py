"""The worker's model cache: one Predictor and one LandmarkPredictor per process, each keyed by
its model version id.

Loaded lazily on the first task (never at import time, so the web process never imports torch),
and replaced only when a task asks for a different model version, i.e. after an activation.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import logging
import threading
import time
from typing import TYPE_CHECKING

from django.conf import settings

if TYPE_CHECKING:
    from inference.engine import LandmarkPredictor, Predictor
    from registry.models import ModelVersion

logger = logging.getLogger(__name__)

_lock = threading.Lock()


def _load_checked(model_version: ModelVersion, predictor_class):
    """Build `predictor_class` from the version's stored checkpoint, refusing (CheckpointError)
    a file that is not the one registered."""
    from inference.engine import CheckpointError

    with model_version.checkpoint.open("rb") as fh:
        data = fh.read()
    predictor = predictor_class.from_checkpoint(
        data, num_threads=getattr(settings, "INFERENCE_TORCH_THREADS", None)
    )
    if predictor.checkpoint_sha256 != model_version.sha256:
        raise CheckpointError(
            f"stored checkpoint of model version {model_version.pk} does not match its "
            "registered sha256; re-register the model"
        )
    return predictor


class _ModelSlot:
    """The one predictor of a kind this process keeps, keyed by its model version id. Each kind
    has its own slot, so a classifier and a landmark model stay loaded side by side."""

    def __init__(self, predictor_class: str, what: str) -> None:
        self.predictor_class = predictor_class  # a name in inference.engine: torch loads lazily
        self.what = what
        self.cached: tuple[int, object] | None = None
        self.load_count = 0  # how many times this process loaded a checkpoint; tests and the bench read it

    def get(self, model_version: ModelVersion):
        with _lock:
            if self.cached is not None and self.cached[0] == model_version.pk:
                return self.cached[1]
            from inference import engine

            # Drop the old model first: two EfficientNets side by side would double the peak RSS.
            self.cached = None
            predictor = _load_checked(model_version, getattr(engine, self.predictor_class))
            self.cached = (model_version.pk, predictor)
            self.load_count += 1
            logger.info("loaded %s %s into worker cache", self.what, model_version.pk)
            return predictor

    def version_id(self) -> int | None:
        return self.cached[0] if self.cached is not None else None


_classifier = _ModelSlot("Predictor", "model version")
_landmarks = _ModelSlot("LandmarkPredictor", "landmark model version")


def predictor_for(model_version: ModelVersion) -> Predictor:
    """The Predictor for `model_version`, loading its checkpoint from storage if not cached.

    Raises inference.engine.CheckpointError when the stored file is not the registered one.
    """
    return _classifier.get(model_version)


def landmark_predictor_for(model_version: ModelVersion) -> LandmarkPredictor:
    """The LandmarkPredictor of a landmarks-kind `model_version`, loaded once per process (the
    same rules as `predictor_for`, in its own slot).

    Raises inference.engine.CheckpointError when the stored file is not the registered one.
    """
    return _landmarks.get(model_version)


def cached_model_version_id() -> int | None:
    return _classifier.version_id()


def cached_landmark_model_version_id() -> int | None:
    return _landmarks.version_id()


def clear() -> None:
    with _lock:
        _classifier.cached = None
        _landmarks.cached = None


def __getattr__(name: str) -> int:
    # `load_count` and `landmark_load_count`: how many checkpoints this process has loaded.
    slots = {"load_count": _classifier, "landmark_load_count": _landmarks}
    if name in slots:
        return slots[name].load_count
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# Predictor is not thread-safe; a threads-pool worker serialises inference through this lock.
predict_lock = threading.Lock()


def _load_malloc_trim():
    """glibc's malloc_trim, or None where the C library has none (musl, macOS)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


_malloc_trim = _load_malloc_trim()
_last_trim = float("-inf")


def release_freed_memory(*, min_interval_s: float = 1.0) -> bool:
    """Hand heap pages freed by recent predictions back to the operating system.

    Radiographs differ in size, so every prediction frees differently sized decode and Grad-CAM
    buffers; glibc keeps those pages in its arenas and a long-lived worker's RSS crept up by
    15-22 % over 500 predictions (bench/inference_latency.py). A trim costs about 5 ms plus
    about 20 ms of page faults in the next prediction, so it runs at most once per
    `min_interval_s`: after every prediction on an idle worker, a few percent of throughput
    under load. Returns whether it trimmed; a no-op without glibc.
    """
    global _last_trim
    if _malloc_trim is None:
        return False
    now = time.monotonic()
    if now - _last_trim < min_interval_s:
        return False
    _malloc_trim(0)
    _last_trim = time.monotonic()
    return True


def run_timed(row, *, load, call, model_name: str, missing: str, doing: str):
    """Run a cached model on the film of `row` (a Prediction or a Measurement): `load` its
    `model_version`, read the radiograph's bytes, `call(predictor, data)` under the predict lock.

    Returns (result, (t0, t1, t2, t3)), the clock before loading, after loading, after reading
    and after the call; or, when the error is deterministic (unreadable image, bad checkpoint,
    missing file, time limit), the message to fail the row with. `import torch` happens here,
    in the worker only.
    """
    from celery.exceptions import SoftTimeLimitExceeded

    from inference.engine import CheckpointError, ImageDecodeError

    try:
        t0 = time.perf_counter()
        predictor = load(row.model_version)
        t1 = time.perf_counter()
        with row.radiograph.image.open("rb") as fh:
            data = fh.read()
        t2 = time.perf_counter()
        with predict_lock:
            try:
                result = call(predictor, data)
            finally:
                release_freed_memory()
        return result, (t0, t1, t2, time.perf_counter())
    except ImageDecodeError as exc:
        return f"The image could not be read: {exc}"
    except CheckpointError as exc:
        return f"The {model_name} could not be loaded: {exc}"
    except FileNotFoundError:
        return missing
    except SoftTimeLimitExceeded:
        return f"{doing} this radiograph took longer than the time limit."


def warm_up() -> int | None:
    """Load the active model and run it once, so a worker's first radiograph is not the slow one.

    Loading torch and the checkpoint and allocating the first workspaces takes about 6 s on a
    2-core machine, which the first upload after every worker start would otherwise wait for.
    Returns the loaded model version id, or None if there is none to load. Never raises: a
    worker that cannot warm up still serves (and reports the problem on the first task).
    """
    try:
        import numpy as np

        from registry.models import ModelKind
        from registry.selectors import model_version_get_active

        _landmark_warm_up(model_version_get_active(kind=ModelKind.LANDMARKS))
        version = model_version_get_active()
        if version is None:
            logger.info("warm-up: no active model version yet")
            return None
        predictor = predictor_for(version)
        film = np.zeros((512, 256), np.uint8)
        film[:, 96:160] = 180  # any film-shaped image: the point is the allocations, not the answer
        with predict_lock:
            predictor.predict(film, gradcam=True)
        release_freed_memory(min_interval_s=0.0)
        return version.pk
    except Exception:
        logger.exception("warm-up failed; the model will load on the first task instead")
        return None


def _landmark_warm_up(version: ModelVersion | None) -> None:
    if version is None:
        return
    try:
        import numpy as np

        predictor = landmark_predictor_for(version)
        film = np.zeros((512, 256), np.uint8)
        film[:, 96:160] = 180
        with predict_lock:
            predictor.measure(film)
    except Exception:
        logger.exception("landmark warm-up failed; the model will load on the first measurement")
