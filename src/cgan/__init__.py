"""cgan: class-conditional GANs for MNIST and Fashion-MNIST.

import cgan
generator = cgan.load_generator("runs/mnist")     # a run folder, or a bundled name such as "mnist"
images = generator.generate([7] * 16, seed=1)     # uint8 array (16, 28, 28)
cgan.evaluate_generator(generator)                # class accuracy, fd_evaluator, precision/recall, CAS
cgan.latent_grid_png(generator, 7, size=8)        # the pictures of `cgan interpolate`, `latent-grid`, `plot`
cgan.evaluation_plot_png(cgan.evaluate_source("runs/mnist"))  # what `cgan evaluate --plot` draws
"""

__version__ = "0.1.0"

from .data import Dataset, resolve_dataset  # noqa: E402
from .errors import CganError, CheckpointError, DataError  # noqa: E402
from .evaluation import evaluate_generator, evaluate_images, evaluate_real, evaluate_source  # noqa: E402
from .generation import TrainedGenerator, load_generator  # noqa: E402
from .training import TrainConfig, TrainResult, fit  # noqa: E402

# The pictures, as PNG/GIF bytes; imported on first use, so `import cgan` (and every command) does not load
# matplotlib.
_PICTURES = {
    "class_sheet": "visuals.pictures",
    "evaluation_plot_png": "visuals.plots",
    "evolution_gif": "visuals.pictures",
    "interpolation": "visuals.pictures",
    "latent_grid_png": "visuals.pictures",
    "real_vs_generated": "visuals.pictures",
    "training_curves_png": "visuals.plots",
}


def __getattr__(name: str):
    if name in _PICTURES:
        from importlib import import_module

        return getattr(import_module(f".{_PICTURES[name]}", __name__), name)
    raise AttributeError(f"module 'cgan' has no attribute {name!r}")


__all__ = [
    *_PICTURES,
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
