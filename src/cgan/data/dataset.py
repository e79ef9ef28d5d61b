"""The Dataset object: what the user named, resolved once, that flows down to training, evaluation and
generation (classes, image shape, its splits, its fingerprint, where its evaluator lives), and the kinds of
source it can be resolved from (`SOURCES`): a built-in name, an image folder, an .npz file."""

from __future__ import annotations

import functools
import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import DataError
from .files import load
from .folders import open_folder, read_splits
from .npz import load_npz
from .specs import DATASETS, DatasetSpec, class_index, get_spec
from .userdata import cache_root, check_options

SHIPPED_EVALUATORS = Path(__file__).resolve().parents[1] / "evaluators"
SPLITS = ("train", "test")


@dataclass(frozen=True)
class Dataset:
    """A resolved dataset. Equal (and of equal hash: a cache key) when it is the same content read from the
    same place the same way.

    kind: the key of its source in SOURCES; location: the folder or file it is read from (for a built-in,
    the data_dir given, None when searched); options: what its source needs besides (for an image folder,
    its cache file; for an .npz, the size and channels asked for). spec: a built-in's DatasetSpec."""

    name: str
    classes: tuple[str, ...]
    image_shape: tuple[int, int, int]
    fingerprint: str
    kind: str = "builtin"
    location: str | None = None
    options: tuple = ()
    spec: DatasetSpec | None = field(default=None, compare=False, repr=False)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def class_index(self, label: str | int) -> int:
        return class_index(self.name, self.classes, label, self.spec.aliases if self.spec else None)

    def split(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        """uint8 images, (N, H, W) for 1 channel or (N, H, W, 3) for 3, and int64 labels (N,) of "train" or
        "test", read once per process. The arrays are shared between callers: read them, never write to them."""
        if split not in SPLITS:
            raise DataError(f"unknown split {split!r} for {self.name}; use one of: {', '.join(SPLITS)}")
        return _cached_split(self, split)

    @property
    def evaluator_file(self) -> Path:
        """Where the weights of its evaluator network are: shipped with cgan for MNIST and Fashion-MNIST,
        else in the user cache under the fingerprint ($XDG_CACHE_HOME/cgan/evaluators/<fingerprint>.safetensors)."""
        shipped = SHIPPED_EVALUATORS / f"{self.name}.safetensors"
        if self.kind == "builtin" and shipped.is_file():
            return shipped
        return cache_root() / "evaluators" / f"{self.fingerprint}.safetensors"

    @property
    def cache_file(self) -> Path | None:
        """Where an image folder's decoded images are kept (None for other sources)."""
        return Path(self.options[0]) if self.kind == "folder" else None

    def describe(self) -> str:
        """A short phrase for messages: what it is and where it is read from."""
        channels, height, width = self.image_shape
        shape = f"{height}x{width}, {'grayscale' if channels == 1 else 'colour'}"
        where: str | None
        if self.kind == "builtin":
            where = self.name if self.location is None else f"{self.name} in {self.location}"
        else:
            where = self.location
        return f"{SOURCES[self.kind].what} {where} ({shape})"


@dataclass(frozen=True)
class Source:
    """A kind of dataset source: whether a name means it, how it is resolved, how a split is read."""

    what: str
    claims: Callable[[str], bool]
    open: Callable[[str, str | os.PathLike | None, int | None, int | None], Dataset]
    read: Callable[[Dataset, str], tuple[np.ndarray, np.ndarray]]


def _is_builtin(source: str) -> bool:
    try:
        get_spec(source)
    except DataError:
        return False
    return "/" not in source and os.sep not in source  # "./mnist" or "mnist/" names a folder


def _open_builtin(source: str, data_dir, image_size, channels) -> Dataset:
    spec = get_spec(source)
    own_channels, height, _ = spec.image_shape
    if image_size not in (None, height) or channels not in (None, own_channels):
        raise DataError(
            f"{spec.name} is {height}x{height} with {own_channels} channel(s); the image size and channels "
            "options apply to image folders and .npz files"
        )
    content = {"sha256": spec.sha256, "archive_md5": spec.archive_md5} if spec.archive else spec.sha256
    digest = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()
    location = None if data_dir is None else str(data_dir)
    return Dataset(
        spec.name, spec.classes, spec.image_shape, f"{spec.name}-{digest[:16]}", "builtin", location, (), spec
    )


def _read_builtin(dataset: Dataset, split: str) -> tuple[np.ndarray, np.ndarray]:
    images, labels = load(dataset.name, split, dataset.location)
    return images.numpy(), labels.numpy()


def _from_meta(meta: dict, kind: str, location: Path, options: tuple) -> Dataset:
    shape = tuple(meta["image_shape"])
    return Dataset(
        meta["name"], tuple(meta["classes"]), shape, meta["fingerprint"], kind, str(location), options
    )


def _open_folder(source: str, data_dir, image_size, channels) -> Dataset:
    folder = Path(source).expanduser().resolve()
    meta, cache = open_folder(folder, image_size, channels)
    return _from_meta(meta, "folder", folder, (str(cache),))


def _read_folder(dataset: Dataset, split: str) -> tuple[np.ndarray, np.ndarray]:
    assert dataset.cache_file is not None  # an image folder's Dataset always names its cache file
    return read_splits(dataset.cache_file)[split]


def _stat(path: Path) -> tuple[int, int]:
    try:
        info = path.stat()
    except OSError as exc:
        raise DataError(f"cannot read {path} ({exc.strerror})") from None
    return info.st_size, info.st_mtime_ns


def _open_npz(source: str, data_dir, image_size, channels) -> Dataset:
    path = Path(source).expanduser().resolve()
    meta, _ = load_npz(str(path), _stat(path), image_size, channels)
    return _from_meta(meta, "npz", path, (image_size, channels))


def _read_npz(dataset: Dataset, split: str) -> tuple[np.ndarray, np.ndarray]:
    assert dataset.location is not None  # an .npz Dataset is always read from its file
    path = Path(dataset.location)
    meta, splits = load_npz(str(path), _stat(path), *dataset.options)
    if meta["fingerprint"] != dataset.fingerprint:
        raise DataError(f"{path} changed since it was first read; run again")
    return splits[split]


# Tried in this order; the first that claims a name resolves it.
SOURCES: dict[str, Source] = {
    "builtin": Source("built-in dataset", _is_builtin, _open_builtin, _read_builtin),
    "folder": Source("image folder", lambda s: Path(s).expanduser().is_dir(), _open_folder, _read_folder),
    "npz": Source(".npz file", lambda s: s.lower().endswith(".npz"), _open_npz, _read_npz),
}


def resolve_dataset(
    source: str | os.PathLike | Dataset,
    data_dir: str | os.PathLike | None = None,
    image_size: int | None = None,
    channels: int | None = None,
) -> Dataset:
    """The Dataset that `source` names: a built-in ("mnist", "fashion-mnist", "cifar10"; read from `data_dir`
    when given, else searched), an image folder, or an .npz file. `image_size` (28, 32 or 64) and `channels`
    (1 or 3) say how a folder or .npz is read; by default at its own size when that is one of those, else
    32, and in colour when any image is."""
    if isinstance(source, Dataset):
        return source
    check_options(image_size, channels)
    name = os.fspath(source)
    for kind in SOURCES.values():
        if kind.claims(name):
            return kind.open(name, data_dir, image_size, channels)
    raise DataError(
        f"no dataset {name!r}: it is neither a built-in dataset ({', '.join(DATASETS)}), nor a folder of "
        "images, nor an .npz file"
    )


@functools.lru_cache(maxsize=4)
def _cached_split(dataset: Dataset, split: str) -> tuple[np.ndarray, np.ndarray]:
    return SOURCES[dataset.kind].read(dataset, split)
