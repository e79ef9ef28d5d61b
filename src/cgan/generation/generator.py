"""A trained generator and the one path by which every caller turns noise and labels into uint8 images."""

from __future__ import annotations

import itertools
import os
import secrets
from collections.abc import Sequence

import numpy as np
import torch

from ..data import DATASETS, Dataset, resolve_dataset
from ..data.specs import class_index
from ..errors import CganError
from ..images import to_uint8
from ..models import ArchConfig
from ..progress import bar
from ..units import SEED_LIMIT
from .inference import inference_network

# Images per forward pass when generating many: small chunks keep the activations in cache, which is
# faster than one large batch on a CPU (docs/speed.md).
GENERATE_BATCH = 128


def random_seed() -> int:
    return secrets.randbelow(2**31)


def check_seed(seed: int) -> int:
    """A random seed as an int: 0 to 2**63 - 1, the range `--seed` takes on the command line."""
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or not 0 <= seed < SEED_LIMIT:
        raise CganError(f"seed must be an integer from 0 to 2**63 - 1, got {seed!r}")
    return int(seed)


def noise(seed: int, *shape: int) -> torch.Tensor:
    """Standard normal noise drawn on the CPU from `seed`: the same on every device."""
    return torch.randn(*shape, generator=torch.Generator().manual_seed(check_seed(seed)))


def device_of(net: torch.nn.Module) -> torch.device:
    tensor = next(itertools.chain(net.parameters(), net.buffers()), None)
    return tensor.device if tensor is not None else torch.device("cpu")


@torch.inference_mode()
def generate_images(
    net: torch.nn.Module, z: torch.Tensor, labels: torch.Tensor, batch_size: int = GENERATE_BATCH
) -> np.ndarray:
    """uint8 images from a generator network in eval mode (its mode is restored afterwards), for noise
    (N, latent_dim) and labels: class indices (N,) int64, or class weights (N, classes) float, which blend
    classes. The chunking does not change the images: in eval mode each image depends on its inputs only."""
    device = device_of(net)
    was_training = net.training
    net.eval()
    chunks = []
    try:
        with bar(len(z), "generating", unit="img") as progress:
            for chunk_z, chunk_labels in zip(z.split(batch_size), labels.split(batch_size), strict=True):
                chunks.append(to_uint8(net(chunk_z.to(device), chunk_labels.to(device))))
                progress.update(len(chunk_z))
    finally:
        net.train(was_training)
    return np.concatenate(chunks)


class TrainedGenerator:
    """A generator network together with what it was trained on: classes, latent size, source.

    `net` is a torch module taking (z, labels): the PyTorch network, or an ONNX Runtime session wrapped as
    one (generation.onnx). Images are drawn by its fastest inference form (generation.inference), made from
    net's weights at the first draw on its device, in `precision`: auto (bf16 where the CPU computes it
    natively), bf16 or fp32."""

    def __init__(
        self,
        net: torch.nn.Module,
        arch: ArchConfig,
        classes: Sequence[str],
        source: str,
        meta: dict,
        precision: str = "auto",
    ):
        self.net = net.eval()
        self.arch = arch
        self.classes = tuple(classes)
        self.source = source
        self.meta = meta
        self.precision = precision
        self._inference: tuple[tuple[torch.device, str], torch.nn.Module] | None = None

    @property
    def device(self) -> torch.device:
        return device_of(self.net)

    @property
    def dataset(self) -> str:
        return self.meta["dataset"]  # a built-in name, or the name of the user's folder or .npz

    def training_data(self, data_dir: str | os.PathLike | None = None) -> Dataset:
        """The dataset it was trained on, resolved again (its images for evaluation and comparison)."""
        channels, size, _ = self.arch.image_shape
        if "data" in self.meta:
            return resolve_dataset(self.meta["data"], None, size, channels)
        return resolve_dataset(self.dataset, data_dir)

    def label_index(self, label: int | str) -> int:
        """A class given by index (7, "7") or by name ("sneaker", "Ankle boot"), as the dataset names them."""
        spec = DATASETS.get(self.dataset)
        return class_index(self.dataset, self.classes, label, spec.aliases if spec else None)

    def generate(
        self,
        labels: Sequence[int | str] | np.ndarray | torch.Tensor,
        seed: int | None = None,
        batch_size: int = GENERATE_BATCH,
    ) -> np.ndarray:
        """uint8 images, one per label (a list, or a 1-D array or tensor, of class indices or names). The
        noise is drawn on the CPU from `seed`, so the same seed and labels give the same images on any
        device and at any batch size."""
        if isinstance(labels, np.ndarray | torch.Tensor):
            labels = labels.tolist()  # its elements as Python ints (or strs), which label_index takes
        if isinstance(labels, str | bytes) or not isinstance(labels, Sequence):
            raise CganError(
                "labels must be a list of class indices or names, one per image (e.g. ['sneaker'] * 4), "
                f"not {type(labels).__name__}"
            )
        indices = torch.tensor([self.label_index(label) for label in labels], dtype=torch.long)
        if len(indices) == 0:
            raise CganError("no labels given: ask for at least one image")
        seed = random_seed() if seed is None else check_seed(seed)
        return self.render(noise(seed, len(indices), self.arch.latent_dim), indices, batch_size)

    def render(self, z: torch.Tensor, labels: torch.Tensor, batch_size: int = GENERATE_BATCH) -> np.ndarray:
        """uint8 images for given noise (N, latent_dim) and labels (indices, or class weights that blend)."""
        return generate_images(self.inference_net(), z, labels, batch_size)

    def inference_net(self) -> torch.nn.Module:
        """The network that draws the images: net's inference form for its current device and precision,
        made once for each."""
        made_for = self.device, self.precision  # made anew when either changes
        if self._inference is None or self._inference[0] != made_for:
            self._inference = made_for, inference_network(self.net, self.precision)
        return self._inference[1]
