"""Training: the config and its options (config), one GAN step (step), the loop over epochs (loop) and its
clock, schedules and stop signal (schedule), the adversarial losses (losses) and DiffAugment (augment)."""

from .config import TrainConfig
from .loop import TrainResult, fit

__all__ = ["TrainConfig", "TrainResult", "fit"]
