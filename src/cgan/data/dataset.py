"""The Dataset object: what the user named, resolved once, that flows down to training, evaluation and
generation (classes, image shape, its splits, its fingerprint, where its evaluator lives)."""

from __future__ import annotations

import functools
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .files import load
from .specs import DatasetSpec, get_spec

SHIPPED_EVALUATORS = Path(__file__).resolve().parents[1] / "evaluators"


@dataclass(frozen=True, eq=False)
class Dataset:
    """A built-in dataset and the folder its files are read from (None: searched in the usual places).
    Two Datasets are equal when they name the same dataset in the same place (hashable: a cache key)."""

    spec: DatasetSpec
    data_dir: str | None = None

    def __eq__(self, other) -> bool:
        return isinstance(other, Dataset) and (self.name, self.data_dir) == (other.name, other.data_dir)

    def __hash__(self) -> int:
        return hash((self.name, self.data_dir))

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def classes(self) -> tuple[str, ...]:
        return self.spec.classes

    @property
    def num_classes(self) -> int:
        return self.spec.num_classes

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return self.spec.image_shape

    def class_index(self, label: str | int) -> int:
        return self.spec.class_index(label)

    def split(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        """uint8 images (N, H, W) and int64 labels (N,) of "train" or "test", read once per process.
        The arrays are shared between callers: read them, never write to them."""
        return _cached_split(self.spec.name, split, self.data_dir)

    @property
    def fingerprint(self) -> str:
        """A short identity of the content (the checksums of its files), the same wherever it is read from."""
        digest = hashlib.sha256(json.dumps(self.spec.sha256, sort_keys=True).encode()).hexdigest()
        return f"{self.name}-{digest[:16]}"

    @property
    def evaluator_file(self) -> Path:
        """The weights of the evaluator network shipped for this dataset."""
        return SHIPPED_EVALUATORS / f"{self.name}.safetensors"


def resolve_dataset(dataset: str | Dataset, data_dir: str | os.PathLike | None = None) -> Dataset:
    """The Dataset a name ("mnist", "fashion_mnist", ...) means, read from `data_dir` when given."""
    if isinstance(dataset, Dataset):
        return dataset
    return Dataset(get_spec(dataset), None if data_dir is None else str(data_dir))


@functools.lru_cache(maxsize=4)
def _cached_split(name: str, split: str, data_dir: str | None) -> tuple[np.ndarray, np.ndarray]:
    images, labels = load(name, split, data_dir)
    return images.numpy(), labels.numpy()
