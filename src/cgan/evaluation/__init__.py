"""Evaluation: the evaluator network and its training (evaluator), the statistics (metrics), the
classification accuracy score (cas), the optional Inception FID (inception), sample files (samples) and
the public API (api)."""

from .api import (
    QUALITY_KEYS,
    EvaluationOptions,
    evaluate_generator,
    evaluate_images,
    evaluate_real,
    evaluate_source,
    quality_metrics,
)
from .evaluator import DEFAULT_EPOCHS, Evaluator, default_evaluator, load_evaluator, train_evaluator
from .samples import read_npz, read_png_folder

__all__ = [
    "DEFAULT_EPOCHS",
    "QUALITY_KEYS",
    "EvaluationOptions",
    "Evaluator",
    "default_evaluator",
    "evaluate_generator",
    "evaluate_images",
    "evaluate_real",
    "evaluate_source",
    "load_evaluator",
    "quality_metrics",
    "read_npz",
    "read_png_folder",
    "train_evaluator",
]
