"""Pure PyTorch: no Django import. Everything needed to run a model."""

from .checkpoint import FORMAT as CLASSIFIER_FORMAT
from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .cobb import VERTEBRAE, CobbMeasurement, Curve, cobb_angles, severity_band
from .landmark_predictor import (
    LANDMARK_FORMAT,
    LandmarkPredictor,
    LandmarkResult,
    MeasurabilityThresholds,
    NotMeasured,
)
from .model import DEFAULT_ARCHITECTURE, create_model, forward_with_features, forward_with_style
from .ood import MahalanobisOOD, OODDetector, StyleOOD
from .predictor import PredictionResult, Predictor
from .preprocessing import (
    ImageDecodeError,
    PreprocessParams,
    decode_image,
    load_image,
    preprocess,
    preprocess_batch,
)

__all__ = [
    "CLASSIFIER_FORMAT",
    "LANDMARK_FORMAT",
    "DEFAULT_ARCHITECTURE",
    "CheckpointError",
    "CobbMeasurement",
    "Curve",
    "ImageDecodeError",
    "LandmarkPredictor",
    "LandmarkResult",
    "MahalanobisOOD",
    "MeasurabilityThresholds",
    "NotMeasured",
    "OODDetector",
    "PredictionResult",
    "Predictor",
    "PreprocessParams",
    "StyleOOD",
    "VERTEBRAE",
    "cobb_angles",
    "create_model",
    "decode_image",
    "forward_with_features",
    "forward_with_style",
    "load_checkpoint",
    "load_image",
    "preprocess",
    "preprocess_batch",
    "save_checkpoint",
    "severity_band",
]
