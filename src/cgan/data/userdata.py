"""What image folders and .npz files share: the sizes and channels a user may ask for, the resize policy,
checking labels, the content fingerprint and the held-out test split."""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import DataError

SIZES = (28, 32, 64)
# When the images do not all share one of SIZES as their own square size.
DEFAULT_SIZE = 32
# Held out per class as "test" where the user's data has one set (at least one image per class).
TEST_FRACTION = 0.1
# Lanczos after a reduction by whole factors for large shrinks: as good as Lanczos alone, much faster.
RESAMPLE = Image.Resampling.LANCZOS
REDUCING_GAP = 3.0


def cache_root() -> Path:
    """$XDG_CACHE_HOME/cgan, by default ~/.cache/cgan."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "cgan"


def check_options(image_size: int | None, channels: int | None) -> None:
    if image_size is not None and image_size not in SIZES:
        raise DataError(f"image size {image_size} is not supported; use one of {', '.join(map(str, SIZES))}")
    if channels not in (None, 1, 3):
        raise DataError(f"channels must be 1 (grayscale) or 3 (colour), not {channels}")


def default_size(sizes: set[tuple[int, int]]) -> int:
    """The images' own size when all are one square size of SIZES, else DEFAULT_SIZE."""
    if len(sizes) == 1:
        width, height = next(iter(sizes))
        if width == height and width in SIZES:
            return width
    return DEFAULT_SIZE


def fit_square(picture: Image.Image, size: int) -> Image.Image:
    """The resize policy: keep the aspect ratio, crop the centre square, resize it to size x size."""
    width, height = picture.size
    if width == height == size:
        return picture
    side = min(width, height)
    if width != height:
        # Cropped first: resizing with a box would let the filter reach into the cut-off margins.
        left, top = (width - side) // 2, (height - side) // 2
        picture = picture.crop((left, top, left + side, top + side))
    return picture if side == size else picture.resize((size, size), RESAMPLE, reducing_gap=REDUCING_GAP)


def luma(rgb: np.ndarray) -> np.ndarray:
    """Grayscale of uint8 RGB (..., 3) with the ITU-R 601-2 weights, as PIL's convert("L") computes it."""
    rgb = rgb.astype(np.uint32)
    weighted = rgb[..., 0] * 19595 + rgb[..., 1] * 38470 + rgb[..., 2] * 7471
    return ((weighted + 0x8000) >> 16).astype(np.uint8)


def conform(images: np.ndarray, size: int, channels: int) -> np.ndarray:
    """uint8 images (N, H, W) or (N, H, W, 3) at size x size (fit_square) with 1 or 3 channels."""
    if images.ndim == 4 and channels == 1:
        images = luma(images)
    elif images.ndim == 3 and channels == 3:
        images = np.repeat(images[..., None], 3, axis=-1)
    if images.shape[1:3] != (size, size):
        images = np.stack([np.asarray(fit_square(Image.fromarray(image), size)) for image in images])
    return np.ascontiguousarray(images)


def check_labels(labels: np.ndarray, classes: tuple[str, ...], where: str, every_class: bool = True) -> None:
    """Every label is a class, there are two classes or more, and (`every_class`) each has images."""
    if len(classes) < 2:
        raise DataError(f"{where} has {len(classes)} class; a conditional GAN needs two classes or more")
    if labels.size and (labels.min() < 0 or labels.max() >= len(classes)):
        bad = int(labels.min() if labels.min() < 0 else labels.max())
        raise DataError(f"{where}: label {bad} is not a class; the classes are 0-{len(classes) - 1}")
    if not every_class:
        return
    counts = np.bincount(labels, minlength=len(classes))
    empty = [name for name, count in zip(classes, counts, strict=True) if count == 0]
    if empty:
        raise DataError(f"{where}: {_classes(empty)} no images")


def first_few(names: Sequence[str], shown: int = 5) -> str:
    """ "a, b, c" or, of many, the first `shown` and "and N more": names for a one-line message."""
    more = f" and {len(names) - shown:,} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def _classes(names: list[str]) -> str:
    """ "class 'a' has" or "classes 'a', 'b' have" (the first few of many, and how many more)"""
    quoted = first_few([repr(name) for name in names])
    return f"class {quoted} has" if len(names) == 1 else f"classes {quoted} have"


MAX_CLASS_NAME = 100  # characters: a class name becomes a file or folder name (cgan generate --out-dir, synth)


def class_name_problem(name: object) -> str | None:
    """Why `name` cannot name a class, or None. Class names become file and folder names, so none may be
    empty, a path (/ or \\), . or .., or hold control characters."""
    if not isinstance(name, str) or not name:
        return "class names must be non-empty text"
    if "/" in name or "\\" in name or name in (".", ".."):
        return f"the class name {name!r} is a path; class names become file names"
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        return f"the class name {name!r} holds control characters"
    if len(name) > MAX_CLASS_NAME:
        return f"the class name {name[:20]!r}... is {len(name)} characters long; at most {MAX_CLASS_NAME}"
    return None


def check_class_names(names: list, where: str) -> tuple[str, ...]:
    """The names, if each can name a class and no two are the same; else a DataError naming the problem."""
    for name in names:
        problem = class_name_problem(name)
        if problem:
            raise DataError(f"{where}: {problem}")
    if len(set(names)) < len(names):
        raise DataError(f"{where}: class names must be distinct")
    return tuple(names)


def numbered_classes(labels: np.ndarray, where: str) -> tuple[str, ...]:
    """Class names "0", "1", ... up to the largest label, for data that names none. Refused where the labels
    skip numbers: those classes would have no images (and one stray large label would make millions)."""
    if labels.size == 0:
        raise DataError(f"{where} holds no images")
    present = np.unique(labels[labels >= 0])  # negative labels: check_labels names them
    top = int(present[-1]) if present.size else -1
    if top + 1 > len(present):
        gaps = np.setdiff1d(np.arange(len(present) + 5), present)[:5].tolist()  # one at least, by counting
        raise DataError(
            f"{where}: the labels go up to {top:,}, but {top + 1 - len(present):,} numbers below it label no "
            f"image (the first: {', '.join(map(str, gaps))}); number the classes 0 to N-1 without gaps"
        )
    return tuple(str(i) for i in range(top + 1))


def slug(name: str) -> str:
    """A file-name-safe form of a dataset's name, for fingerprints."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "data"


def fingerprint(name: str, classes: tuple[str, ...], arrays: list[np.ndarray]) -> str:
    """`<name>-<16 hex digits>`: a digest of the class names and the decoded pixels and labels, so the same
    content has the same fingerprint wherever it is stored."""
    digest = hashlib.sha256(json.dumps(classes).encode())
    for array in arrays:
        digest.update(json.dumps([array.dtype.str, array.shape]).encode())
        digest.update(np.ascontiguousarray(array).data)
    return f"{slug(name)}-{digest.hexdigest()[:16]}"


def held_out(labels: np.ndarray, num_classes: int, seed_text: str) -> np.ndarray:
    """A boolean mask of the test images: TEST_FRACTION of each class (rounded, at least 1), drawn by a seed
    derived from `seed_text` (the fingerprint), so the same data always splits the same way."""
    rng = np.random.default_rng(int(hashlib.sha256(seed_text.encode()).hexdigest()[:16], 16))
    test = np.zeros(len(labels), dtype=bool)
    for label in range(num_classes):
        members = np.flatnonzero(labels == label)
        if len(members) < 2:
            continue
        count = max(1, round(TEST_FRACTION * len(members)))
        test[rng.choice(members, size=count, replace=False)] = True
    return test


def split_sets(
    name: str, classes: tuple[str, ...], images: np.ndarray, labels: np.ndarray, where: str
) -> tuple[str, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """The fingerprint and the train/test splits of one set of images, checked."""
    check_labels(labels, classes, where)
    single = [c for c, n in zip(classes, np.bincount(labels, minlength=len(classes)), strict=True) if n < 2]
    if single:
        raise DataError(
            f"{where}: {_classes(single)} only one image; each class needs two or more (one is held out for "
            "testing)"
        )
    content = fingerprint(name, classes, [images, labels])
    test = held_out(labels, len(classes), content)
    return content, {"train": (images[~test], labels[~test]), "test": (images[test], labels[test])}
