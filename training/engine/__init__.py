"""Pure PyTorch: no Django import. Everything needed to make a model."""

from .augment import RadiographTrainAugmentation
from .calibration import fit_temperature
from .cv import CrossValidationResult, cross_validate, grouped_folds, grouped_holdout
from .data import DEFAULT_LABEL_MAP, Sample, data_fingerprint, samples_from_folder
from .evaluate import evaluate_checkpoint
from .landmarks import LandmarkSample, LandmarkTrainConfig, samples_from_labels_csv, train_landmarks
from .loop import TrainConfig, TrainResult, infer, train_model
from .metrics import compute_metrics, expected_calibration_error

__all__ = [
    "DEFAULT_LABEL_MAP",
    "LandmarkSample",
    "LandmarkTrainConfig",
    "CrossValidationResult",
    "RadiographTrainAugmentation",
    "Sample",
    "TrainConfig",
    "TrainResult",
    "compute_metrics",
    "cross_validate",
    "data_fingerprint",
    "evaluate_checkpoint",
    "expected_calibration_error",
    "fit_temperature",
    "grouped_folds",
    "grouped_holdout",
    "infer",
    "samples_from_folder",
    "samples_from_labels_csv",
    "train_model",
    "train_landmarks",
]
