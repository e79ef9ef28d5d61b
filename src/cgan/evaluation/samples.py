"""Checking images and labels handed to the evaluation, and reading sample files (.npz, folders of PNGs)."""

from __future__ import annotations

import math
import os
import zipfile
from pathlib import Path

import numpy as np
import torch

from ..data import Dataset, DatasetSpec, resolve_dataset
from ..errors import CganError
from ..images import open_picture, pixel_shape

MAX_PER_CLASS = 10_000  # images of each class one measurement may generate: 100,000 for ten classes
MAX_NPZ_VALUES = 2**30  # values of one .npz array: 1 GiB of pixels


def check_samples(images, labels, dataset: Dataset | DatasetSpec) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images (N, H, W[, C]) and int64 labels (N,) in range, or a CganError naming the problem."""
    images = images.numpy() if torch.is_tensor(images) else np.asarray(images)
    labels = labels.numpy() if torch.is_tensor(labels) else np.asarray(labels)
    expected = pixel_shape(dataset.image_shape)
    if images.shape[1:] != expected:
        hint = " (drop the channel axis: images[:, 0])" if images.shape[1:] == (1, *expected) else ""
        shown = ", ".join(map(str, expected))
        raise CganError(f"images must have shape (N, {shown}), got {images.shape}{hint}")
    if len(images) == 0:
        raise CganError("no images to evaluate")
    if images.dtype != np.uint8:
        if images.dtype.kind == "f":
            low, high = float(images.min()), float(images.max())
            raise CganError(
                f"images must be uint8 pixels 0-255, got {images.dtype} with values {low:g} to {high:g}; "
                "convert them, e.g. (x * 255).round().astype(np.uint8) for floats in [0, 1]"
            )
        if images.dtype.kind not in "iu":  # strings, booleans, complex numbers, dates: no pixels
            raise CganError(f"images must be uint8 pixels 0-255, got an array of {images.dtype}")
        if images.min() < 0 or images.max() > 255:
            raise CganError(
                f"image values must be 0-255, got {images.dtype} values {images.min()} to {images.max()}"
            )
        images = images.astype(np.uint8)
    if labels.ndim != 1:
        raise CganError(f"labels must have shape (N,), got {labels.shape}")
    if len(labels) != len(images):
        raise CganError(f"{len(images)} images but {len(labels)} labels; there must be one label per image")
    if not np.issubdtype(labels.dtype, np.integer):
        raise CganError(f"labels must be integers (class indices), got {labels.dtype}")
    if labels.min() < 0 or labels.max() >= dataset.num_classes:
        raise CganError(
            f"labels range from {labels.min()} to {labels.max()}, but {dataset.name} has classes "
            f"0-{dataset.num_classes - 1}"
        )
    return images, labels.astype(np.int64)


def check_per_class(per_class: int) -> int:
    if isinstance(per_class, bool) or not isinstance(per_class, int | np.integer) or per_class < 2:
        raise CganError(f"per_class must be an integer of at least 2, got {per_class!r}")
    if per_class > MAX_PER_CLASS:
        raise CganError(f"per_class must be at most {MAX_PER_CLASS:,}, got {per_class:,}")
    return int(per_class)


def read_npz(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """`images` and `labels` from an .npz as `cgan generate --out x.npz` writes it (never unpickled)."""
    path = Path(path)
    if not path.is_file():
        raise CganError(f"{path} does not exist")
    if not zipfile.is_zipfile(path):
        raise CganError(f"{path} is not an .npz file (an .npz is a zip archive of arrays)")
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [key for key in ("images", "labels") if key not in archive.files]
            if missing:
                raise CganError(
                    f"{path} has no {' or '.join(missing)} array (it has: {', '.join(archive.files) or 'none'}); "
                    "expected images (N, 28, 28) uint8 and labels (N,)"
                )
            for key in ("images", "labels"):
                count = math.prod(_stored_shape(archive, key))
                if count > MAX_NPZ_VALUES:
                    raise CganError(
                        f"{path}: its {key} array holds {count:,} values, more than the {MAX_NPZ_VALUES:,} "
                        "cgan reads at once"
                    )
            return archive["images"], archive["labels"]
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        # allow_pickle=False turns object arrays into ValueError instead of unpickling them.
        raise CganError(f"{path} is not a readable .npz of plain arrays ({exc})") from None


def _stored_shape(archive, key: str) -> tuple[int, ...]:
    """The shape an .npz member's header declares, read before its data (which may decompress to any size)."""
    with archive.zip.open(f"{key}.npy") as member:
        version = np.lib.format.read_magic(member)
        header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        return header(member)[0]


def _png_label(path: Path, folder: Path, spec: Dataset) -> int:
    """The class of a PNG: its subfolder's name, or the part of its name after the last "_"."""
    name = path.parent.name if path.parent != folder else path.stem.rpartition("_")[2]
    try:
        return spec.class_index(name)
    except CganError:
        raise CganError(
            f"cannot tell the class of {path}: {name!r} is not a {spec.name} class; name files "
            f"<anything>_<class>.png (e.g. 00012_{spec.classes[-1]}.png) or put them in folders named by class"
        ) from None


def _png_pixels(path: Path, dataset: Dataset) -> np.ndarray:
    channels, size, _ = dataset.image_shape
    with open_picture(path) as picture:
        width, height = picture.size
        # `cgan generate --scale S` enlarges by pixel repetition; every S-th pixel undoes it exactly.
        scale = height // size
        if height != width or scale < 1 or height % size:
            raise CganError(f"{path} is {width}x{height}; expected {size}x{size} (or a whole multiple of it)")
        pixels = np.asarray(picture.convert("L" if channels == 1 else "RGB"))
    return pixels[::scale, ::scale].copy()  # a copy, so the enlarged picture is freed


def read_png_folder(folder: str | os.PathLike, dataset: str | Dataset) -> tuple[np.ndarray, np.ndarray]:
    """Images and labels from PNGs named `<anything>_<class>.png`, or in subfolders named by class."""
    folder = Path(folder)
    dataset = resolve_dataset(dataset)
    paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() == ".png" and p.is_file())
    if not paths:
        raise CganError(f"{folder} holds no .png files")
    labels = np.array([_png_label(p, folder, dataset) for p in paths], dtype=np.int64)
    return np.stack([_png_pixels(p, dataset) for p in paths]), labels
