"""The project's own evaluator network: a small CNN classifier trained on a dataset's real train split,
whose argmax judges whether an image shows the class it was asked for and whose penultimate layer (128
features) is the space in which image distributions are compared. Its training and loading live here too.

Input convention: every network here reads uint8 images through `images.to_float`, i.e. values in [-1, 1]
as the generators draw them.
"""

from __future__ import annotations

import functools
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..checkpoint import check_writable, load_module, load_tensors, module_tensors, save_tensors
from ..data import Dataset, resolve_dataset
from ..errors import CganError, CheckpointError
from ..images import to_float
from ..progress import bar

EVALUATOR_FORMAT = "cgan-evaluator"
# Epochs of `cgan train-evaluator`: enough for 99.3% / 92% test accuracy (evaluators/README.md).
DEFAULT_EPOCHS = {"mnist": 6, "fashion-mnist": 10}
OTHER_DATASETS_EPOCHS = 10
# Other datasets train for at least this many steps: a small folder's ten epochs are too few for the batch
# statistics to settle (the evaluator then answers one class for everything).
MIN_STEPS = 1500
# Datasets whose classes look the same mirrored (clothes, photos), so the evaluator learns from flips too;
# digits and letters do not.
MIRRORED = ("fashion-mnist", "cifar10")


# --- the evaluator network --------------------------------------------------------------------


def _conv(cin: int, cout: int, kernel: int = 3, stride: int = 1) -> list[nn.Module]:
    return [
        nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    ]


class PoolTo(nn.Module):
    """A 2x2 max pool, then an adaptive one down to size x size where larger images leave more (none at
    28x28). One module, so the shipped weights keep their layer numbers."""

    def __init__(self, size: int):
        super().__init__()
        self.size = size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(x, 2)
        return x if x.shape[-1] == self.size else F.adaptive_max_pool2d(x, self.size)


class Evaluator(nn.Module):
    """conv5x5/2 - conv - conv - pool - conv - pool - fc(128 features) - fc(classes), with BN and dropout;
    any image size from 28x28 up, 1 or 3 channels.

    The strided first convolution keeps the work at 14x14 from the start: cheaper to train than two
    full-resolution convolutions, for the same accuracy on 28x28 digits (docs/speed.md).
    """

    def __init__(self, num_classes: int = 10, width: int = 32, feature_dim: int = 128, channels: int = 1):
        super().__init__()
        self.config = {"num_classes": num_classes, "width": width, "feature_dim": feature_dim, "channels": channels}
        self.body = nn.Sequential(
            *_conv(channels, width, kernel=5, stride=2),  # 14x14 for 28x28 images
            *_conv(width, 2 * width),
            *_conv(2 * width, 2 * width),
            nn.MaxPool2d(2),  # 7x7
            *_conv(2 * width, 4 * width),
            PoolTo(3),  # 3x3
            nn.Flatten(),
            nn.Linear(4 * width * 9, feature_dim, bias=False),
            nn.BatchNorm1d(feature_dim),
            nn.ReLU(inplace=True),
        )
        self.head = nn.Sequential(nn.Dropout(0.3), nn.Linear(feature_dim, num_classes))
        self.dataset = ""
        self.meta: dict = {}

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The penultimate layer (feature_dim values per image) for inputs made by `images.to_float`."""
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


@torch.inference_mode()
def embed(
    evaluator: Evaluator, images: np.ndarray, batch_size: int = 1000
) -> tuple[torch.Tensor, np.ndarray]:
    """Features (float32 CPU tensor, N x feature_dim) and predicted labels (int64 array) of uint8 images."""
    was_training = evaluator.training
    evaluator.eval()
    device = next(evaluator.parameters()).device
    features, predictions = [], []
    with bar(len(images), "evaluator features", unit="img") as progress:
        for start in range(0, len(images), batch_size):
            batch = to_float(images[start : start + batch_size]).to(device)
            feats = evaluator.features(batch)
            features.append(feats.float().cpu())
            predictions.append(evaluator.head(feats).argmax(1).cpu())
            progress.update(len(batch))
    evaluator.train(was_training)
    return torch.cat(features), torch.cat(predictions).numpy()


def _shifted(batch: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Each uint8 image (B, H, W[, C]) moved by its own random offset of up to max_shift pixels, zero-filled."""
    count, height, width = batch.shape[:3]
    padded = F.pad(batch, (0, 0) * (batch.dim() - 3) + (max_shift,) * 4)
    dy, dx = torch.randint(0, 2 * max_shift + 1, (2, count, 1), generator=generator)
    rows = (dy + torch.arange(height))[:, :, None]
    cols = (dx + torch.arange(width))[:, None, :]
    return padded[torch.arange(count)[:, None, None], rows, cols]


def _augment(batch: torch.Tensor, flips: bool, generator: torch.Generator) -> torch.Tensor:
    batch = _shifted(batch, 2, generator)
    if flips:
        flip = torch.rand(len(batch), generator=generator) < 0.5
        batch = torch.where(flip.view(-1, *[1] * (batch.dim() - 1)), batch.flip(2), batch)
    return batch


def accuracy(net: nn.Module, images: np.ndarray | torch.Tensor, labels, batch_size: int = 1000) -> float:
    """The fraction of uint8 images that a classifier network labels correctly (in eval mode)."""
    images, labels = torch.as_tensor(images), torch.as_tensor(labels)
    net.eval()
    correct = 0
    with torch.inference_mode():
        for start in range(0, len(images), batch_size):
            logits = net(to_float(images[start : start + batch_size]))
            correct += int((logits.argmax(1) == labels[start : start + batch_size]).sum())
    return correct / len(images)


def train_evaluator(
    dataset: str | Dataset,
    data_dir: str | os.PathLike | None = None,
    epochs: int | None = None,
    seed: int = 0,
    out: str | os.PathLike | None = None,
    batch_size: int = 128,
    progress: bool = False,
    command: str | None = None,
    max_images: int | None = None,
) -> dict:
    """Train the evaluator on the real train split and write `<out>/<dataset>.safetensors`; without `out`,
    where evaluation looks for it (dataset.evaluator_file; for a built-in dataset, ./evaluators/).

    Returns the metadata stored in the file: test_accuracy, epochs, seed, command, wall_s, ...
    `max_images` trains on the first N training images only (for tests).
    """
    dataset = resolve_dataset(dataset, data_dir)
    epochs = default_epochs(dataset, batch_size) if epochs is None else int(epochs)
    if epochs < 1:
        raise CganError(f"epochs must be at least 1, got {epochs}")
    target = evaluator_target(dataset, out)
    check_writable(target.parent)
    started = time.perf_counter()
    net = fit_evaluator(dataset, epochs, seed, batch_size, max_images, progress)
    test_images, test_labels = dataset.split("test")
    meta = {
        "dataset": dataset.name,
        "fingerprint": dataset.fingerprint,
        "classes": list(dataset.classes),
        "config": net.config,
        "test_accuracy": round(accuracy(net, test_images, test_labels), 5),
        "epochs": epochs,
        "seed": seed,
        "wall_s": round(time.perf_counter() - started, 1),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "command": command or f"train_evaluator({dataset.name!r}, epochs={epochs}, seed={seed})",
    }
    save_tensors(
        target, module_tensors("evaluator", net), EVALUATOR_FORMAT, meta
    )
    return meta


def fit_evaluator(
    dataset: Dataset, epochs: int, seed: int, batch_size: int, max_images: int | None, progress: bool
) -> Evaluator:
    """Augmentation: random shifts of up to 2 pixels, and horizontal flips for MIRRORED datasets. Adam with
    a one-cycle learning rate."""
    images, labels = (torch.from_numpy(array[:max_images]) for array in dataset.split("train"))
    started = time.perf_counter()
    with torch.random.fork_rng(devices=[]):  # leave the caller's random state untouched
        torch.manual_seed(seed)
        net = Evaluator(dataset.num_classes, channels=dataset.image_shape[0])
        # torch's overloads of Module.to leave out memory_format, which it takes (its docstring shows it).
        net = net.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    order = torch.Generator().manual_seed(seed)
    steps_per_epoch = math.ceil(len(images) / batch_size)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=3e-3, total_steps=epochs * steps_per_epoch
    )
    steps = bar(epochs * steps_per_epoch, "training the evaluator", unit="step")
    for epoch in range(1, epochs + 1):
        net.train()
        for batch in torch.randperm(len(images), generator=order).split(batch_size):
            x = to_float(_augment(images[batch], dataset.name in MIRRORED, order))
            loss = F.cross_entropy(net(x.contiguous(memory_format=torch.channels_last)), labels[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            steps.update(1)
        if progress:
            test_accuracy = accuracy(net, *dataset.split("test"))
            elapsed = time.perf_counter() - started
            steps.write(f"epoch {epoch}/{epochs}: test accuracy {test_accuracy:.4f} ({elapsed:.0f} s)", file=sys.stderr)
    steps.close()
    return net


def default_epochs(dataset: Dataset, batch_size: int = 128) -> int:
    if dataset.name in DEFAULT_EPOCHS:
        return DEFAULT_EPOCHS[dataset.name]
    steps_per_epoch = math.ceil(len(dataset.split("train")[1]) / batch_size)
    return max(OTHER_DATASETS_EPOCHS, math.ceil(MIN_STEPS / steps_per_epoch))


def evaluator_target(dataset: Dataset, out: str | os.PathLike | None) -> Path:
    """Where train_evaluator writes: `out`/<name>.safetensors, else where evaluation will look for it; the
    shipped evaluators of the built-in datasets are not overwritten by default."""
    if out is not None:
        return Path(out) / f"{dataset.name}.safetensors"
    if dataset.kind == "builtin":
        return Path("evaluators") / f"{dataset.name}.safetensors"
    return dataset.evaluator_file


def how_to_train(dataset: Dataset) -> str:
    if dataset.kind == "builtin":
        return f"cgan train-evaluator --dataset {dataset.name}"
    channels, size, _ = dataset.image_shape
    return f"cgan train-evaluator --data {dataset.location} --image-size {size} --channels {channels}"


def load_evaluator(
    dataset: str | Dataset, path: str | os.PathLike | None = None, device: str | torch.device = "cpu"
) -> Evaluator:
    """The evaluator for `dataset`: the shipped weights by default, or those in `path`."""
    dataset = resolve_dataset(dataset)
    given = path
    path = Path(path) if path is not None else dataset.evaluator_file
    if not path.is_file() and given is not None:
        raise CheckpointError(f"no evaluator weights at {path}; train them with: {how_to_train(dataset)}")
    if not path.is_file():
        raise CheckpointError(
            f"no evaluator for {dataset.describe()} (looked for {path}); the numbers need one trained on "
            f"its images: {how_to_train(dataset)}"
        )
    tensors, meta = load_tensors(path, EVALUATOR_FORMAT)
    if meta.get("dataset") != dataset.name:
        raise CheckpointError(f"{path} is an evaluator for {meta.get('dataset')!r}, not for {dataset.name!r}")
    if dataset.kind != "builtin" and meta.get("fingerprint") != dataset.fingerprint:
        raise CheckpointError(
            f"{path} was trained on other images than {dataset.describe()} holds now; train it again: "
            f"{how_to_train(dataset)}"
        )
    try:
        with torch.random.fork_rng(devices=[]):  # building layers draws initial weights: not from ours
            net = Evaluator(**meta["config"])
    except (KeyError, TypeError) as exc:
        raise CheckpointError(f"{path} has a damaged evaluator description ({exc})") from None
    load_module("evaluator", net, tensors, path)
    net.dataset, net.meta = dataset.name, meta
    return net.to(device).eval()


def default_evaluator(dataset: str | Dataset, device: str = "cpu") -> Evaluator:
    """The dataset's evaluator (dataset.evaluator_file), loaded once per process and device, so the cached
    features of its real images stay valid."""
    return _loaded_evaluator(dataset, str(device))  # one cache key whether the device was given or not


@functools.lru_cache(maxsize=8)
def _loaded_evaluator(dataset: str | Dataset, device: str) -> Evaluator:
    return load_evaluator(dataset, device=device)
