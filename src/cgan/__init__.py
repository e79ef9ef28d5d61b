"""cgan: class-conditional GANs for MNIST and Fashion-MNIST.

import cgan
generator = cgan.load_generator("runs/mnist")     # a run folder, or a bundled name such as "mnist"
images = generator.generate([7] * 16, seed=1)     # uint8 array (16, 28, 28)
"""

from .errors import CganError, CheckpointError, DataError
from .sampling import TrainedGenerator, load_generator
from .train import TrainConfig, fit

__all__ = [
    "CganError",
    "CheckpointError",
    "DataError",
    "TrainConfig",
    "TrainedGenerator",
    "fit",
    "load_generator",
]
__version__ = "0.1.0"
