"""cgan: class-conditional GANs for MNIST and Fashion-MNIST.

import cgan
generator = cgan.load_generator("runs/mnist")     # a run folder, or a bundled name such as "mnist"
images = generator.generate([7] * 16, seed=1)     # uint8 array (16, 28, 28)
cgan.evaluate_generator(generator)                # class accuracy, fd_evaluator, precision/recall, CAS
"""

__version__ = "0.1.0"

from .data import Dataset, resolve_dataset  # noqa: E402
from .errors import CganError, CheckpointError, DataError  # noqa: E402
from .evaluation import evaluate_generator, evaluate_images, evaluate_real, evaluate_source  # noqa: E402
from .generation import TrainedGenerator, load_generator  # noqa: E402
from .training import TrainConfig, TrainResult, fit  # noqa: E402

__all__ = [
    "CganError",
    "CheckpointError",
    "DataError",
    "Dataset",
    "TrainConfig",
    "TrainResult",
    "TrainedGenerator",
    "evaluate_generator",
    "evaluate_images",
    "evaluate_real",
    "evaluate_source",
    "fit",
    "load_generator",
    "resolve_dataset",
]
