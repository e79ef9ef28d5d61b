"""Image folders as datasets: one sub-folder per class (torchvision's ImageFolder and Keras' layout), or labels
in a dataset.json (stylegan2-ada's convention), optionally with train/ and test/ sub-folders. Decoded once,
in parallel, into a uint8 cache keyed by the folder's listing (names, sizes, modification times)."""

from __future__ import annotations

import hashlib
import json
import math
import os
import warnings
import zipfile
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from itertools import repeat
from pathlib import Path

import numpy as np
from PIL import Image

from ..checkpoint import atomic_write
from ..errors import DataError
from .userdata import (
    DEFAULT_SIZE,
    SIZES,
    cache_root,
    check_class_names,
    check_labels,
    default_size,
    fingerprint,
    first_few,
    fit_square,
    numbered_classes,
    split_sets,
)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
LABELS_FILE = "dataset.json"
# Left out of class folders besides hidden files: what file managers leave there.
SKIPPED = {"thumbs.db", "desktop.ini"}
# Bumped when what a cache file holds changes, so old ones are not read.
CACHE_VERSION = 1
GRAY_MODES = {"1", "L", "LA", "La", "I", "F"}
ALPHA_MODES = {"RGBA", "RGBa", "LA", "La", "PA"}


@dataclass
class Listing:
    """What a folder holds: the classes and each image's path (relative, "/"-separated) and label; `test`
    marks the images of test/ where the folder has explicit train/ and test/ sub-folders."""

    classes: tuple[str, ...]
    files: list[str]
    labels: list[int]
    test: list[bool] | None
    # A digest of each image's path, size and mtime_ns, and dataset.json's: what the cache key is made of.
    digest: str


def _record(digest, rel: str, info: os.stat_result) -> None:
    digest.update(f"{rel}\0{info.st_size}\0{info.st_mtime_ns}\n".encode("utf-8", "surrogateescape"))


def _images_in(folder: Path, sub: str, digest, seen: set[str], top: str = "") -> tuple[list[str], list[str]]:
    """The image files under folder/sub, recursively and sorted, each recorded in `digest` with its size and
    modification time, and the files that are not images. Linked folders are followed once (`seen`); a link
    to a folder that holds the class folder (`top`; `up -> ..`) is refused, as it would bring in the other
    classes' images."""
    images: list[str] = []
    others: list[str] = []
    real = os.path.realpath(folder / sub)
    if real in seen:
        return images, others
    seen.add(real)
    top = top or real
    with os.scandir(folder / sub) as scan:
        entries = sorted(scan, key=lambda entry: entry.name)
    for entry in entries:
        if entry.name.startswith(".") or entry.name.lower() in SKIPPED:
            continue
        rel = f"{sub}/{entry.name}"
        if entry.is_dir() and entry.is_symlink():
            target = os.path.realpath(entry.path)
            if top.startswith(target.rstrip(os.sep) + os.sep):
                raise DataError(
                    f"{folder / rel} links to {target}, a folder that holds its class folder: remove the link "
                    "(it would add every image in that folder to this class)"
                )
        if entry.is_dir():
            more, more_others = _images_in(folder, rel, digest, seen, top)
            images += more
            others += more_others
        elif not entry.name.lower().endswith(IMAGE_SUFFIXES):
            others.append(rel)
        else:
            _record(digest, rel, entry.stat())  # follows symbolic links, as opening the file will
            images.append(rel)
    return images, others


def _subfolders(folder: Path) -> list[str]:
    return sorted(
        entry.name for entry in os.scandir(folder) if entry.is_dir() and not entry.name.startswith(".")
    )


def _by_class_folders(
    folder: Path, prefix: str, classes: tuple[str, ...], digest
) -> tuple[list[str], list[int]]:
    """The images of each class folder under folder/prefix and their labels."""
    files, labels, others = [], [], []
    for label, name in enumerate(classes):
        images, not_images = _images_in(folder, f"{prefix}{name}", digest, set())
        if not images:
            raise DataError(f"{folder / prefix / name} holds no images (PNG, JPEG, WebP or BMP)")
        files += images
        labels += [label] * len(images)
        others += not_images
    if others:
        raise DataError(
            f"{folder} holds files that are not PNG, JPEG, WebP or BMP images: {first_few(others)}; "
            "remove them or move them out of the class folders"
        )
    return files, labels


def _from_labels_file(folder: Path) -> tuple[tuple[str, ...], list[str], list[int]]:
    """Classes, files and labels from dataset.json: {"labels": [["a/1.png", 0], ...], "class_names": [...]}."""
    path = folder / LABELS_FILE
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path} is not readable JSON ({exc})") from None
    entries = document.get("labels") if isinstance(document, dict) else None
    if not isinstance(entries, list) or not entries:
        raise DataError(f'{path} has no "labels" list; expected {{"labels": [["cat/1.png", 0], ...]}}')
    names = document.get("class_names")
    if names is not None:
        if not isinstance(names, list):
            raise DataError(f'{path}: "class_names" must be a list of distinct, non-empty names')
        names = list(check_class_names(names, f'{path}: "class_names"'))
    files, labels = [], []
    for number, entry in enumerate(entries):
        ok = isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], str)
        if not ok or not isinstance(entry[1], int) or isinstance(entry[1], bool):
            raise DataError(
                f'{path}: labels entry {number} is {json.dumps(entry)}; expected ["path/in/folder.png", 0]'
            )
        rel, label = entry[0].replace("\\", "/"), entry[1]
        if rel.startswith("/") or ".." in rel.split("/"):
            raise DataError(f"{path}: {rel!r} is not a path inside {folder}")
        if label < 0 or (names is not None and label >= len(names)):
            valid = f"0-{len(names) - 1} ({', '.join(names)})" if names is not None else "0 or more"
            raise DataError(f"{path}: the label {label} of {rel} is not a class; the classes are {valid}")
        files.append(rel)
        labels.append(label)
    repeated = sorted(rel for rel, times in Counter(files).items() if times > 1)
    if repeated:
        raise DataError(f"{path} lists some files more than once (each image has one label): {first_few(repeated)}")
    missing = [rel for rel in files if not (folder / rel).is_file()]
    if missing:
        raise DataError(f"{path} lists files that are not in {folder}: {first_few(missing)}")
    others = [rel for rel in files if not rel.lower().endswith(IMAGE_SUFFIXES)]
    if others:
        raise DataError(f"{path} lists files that are not PNG, JPEG, WebP or BMP images: {first_few(others)}")
    classes = tuple(names) if names is not None else numbered_classes(np.array(labels), str(path))
    order = sorted(range(len(files)), key=files.__getitem__)
    return classes, [files[i] for i in order], [labels[i] for i in order]


def _has_split_folders(folder: Path) -> bool:
    return all((folder / s).is_dir() and _subfolders(folder / s) for s in ("train", "test"))


def list_folder(folder: Path) -> Listing:
    """What `folder` holds, checked: its layout, classes, images and their labels."""
    digest = hashlib.sha256()
    if (folder / LABELS_FILE).is_file():
        classes, files, labels = _from_labels_file(folder)
        for rel in [LABELS_FILE, *files]:
            _record(digest, rel, os.stat(folder / rel))
        return Listing(classes, files, labels, None, digest.hexdigest())
    if _has_split_folders(folder):
        classes = tuple(_subfolders(folder / "train"))
        unmatched = [name for name in _subfolders(folder / "test") if name not in classes]
        if unmatched:
            raise DataError(f"{folder / 'test'} has class folders that train/ lacks: {first_few(unmatched)}")
        files, labels = _by_class_folders(folder, "train/", classes, digest)
        test_classes = tuple(_subfolders(folder / "test"))
        test_files, test_labels = _by_class_folders(folder, "test/", test_classes, digest)
        labels += [classes.index(test_classes[label]) for label in test_labels]
        test = [False] * len(files) + [True] * len(test_files)
        files += test_files
    else:
        classes = tuple(_subfolders(folder))
        if not classes:
            raise DataError(
                f"{folder} has no class folders; put the images in one sub-folder per class "
                f"({folder}/<class name>/*.png) or list their labels in {folder / LABELS_FILE}"
            )
        if set(classes) <= {"train", "test"}:  # a split half made, not classes named train and test
            raise DataError(
                f"{folder} holds {' and '.join(f'{name}/' for name in classes)} alone; give both train/ and test/, "
                f"each with one sub-folder per class, or put the class folders directly in {folder}"
            )
        files, labels = _by_class_folders(folder, "", classes, digest)
        test = None
    return Listing(classes, files, labels, test, digest.hexdigest())


# --- decoding, in worker processes ------------------------------------------------------------


def _no_bombs() -> None:
    # Images between PIL's warning and error limits would otherwise be decoded, at great memory cost.
    warnings.simplefilter("error", Image.DecompressionBombWarning)


def _plain(picture: Image.Image) -> Image.Image:
    """`picture` as "L" (grayscale modes) or "RGB"; transparency is flattened onto black."""
    if picture.mode.startswith("I;16"):
        return Image.fromarray((np.asarray(picture, dtype=np.uint16) >> 8).astype(np.uint8))
    want = "L" if picture.mode in GRAY_MODES else "RGB"
    if picture.mode in ALPHA_MODES or "transparency" in picture.info:
        flat = Image.new("RGBA", picture.size, (0, 0, 0, 255))
        flat.alpha_composite(picture.convert("RGBA"))
        return flat.convert(want)
    return picture if picture.mode == want else picture.convert(want)


def _decode(path: Path, size: int | None, channels: int | None) -> tuple[np.ndarray, tuple[int, int]]:
    """One image at `size` (None: its own size when square and supported, else DEFAULT_SIZE), (H, W) for
    grayscale content, (H, W, 3) for colour; and its own size."""
    with Image.open(path) as opened:
        native = opened.size
        own = native[0] if native[0] == native[1] and native[0] in SIZES else DEFAULT_SIZE
        target = size or own
        opened.draft(None, (2 * target, 2 * target))  # JPEG: decode at a reduced scale where that is enough
        picture = _plain(opened)
        if channels == 1 and picture.mode == "RGB":
            picture = picture.convert("L")
        pixels = np.asarray(fit_square(picture, target))
    if pixels.ndim == 3 and channels is None and (pixels == pixels[..., :1]).all():
        pixels = np.ascontiguousarray(pixels[..., 0])  # colour files of gray content count as grayscale
    return pixels, native


def _decode_chunk(folder: str, files: list[str], size: int | None, channels: int | None):
    """The decoded images stacked by shape, as (positions in `files`, array) groups (one, mostly, so that
    few objects cross between processes), the images' own sizes, the files that failed (path, reason) and
    those that vanished."""
    by_shape: dict[tuple[int, ...], tuple[list[int], list[np.ndarray]]] = {}  # shape -> (positions, images)
    natives, failed, vanished = set(), [], []
    for position, rel in enumerate(files):
        try:
            pixels, native = _decode(Path(folder) / rel, size, channels)
        except FileNotFoundError:
            vanished.append(rel)
            continue
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            failed.append((rel, "too many pixels to decode safely (a decompression bomb?)"))
            continue
        except Exception as exc:  # decoders of untrusted files raise many types (OSError, SyntaxError, ...)
            failed.append((rel, str(exc) or type(exc).__name__))
            continue
        by_shape.setdefault(pixels.shape, ([], []))
        by_shape[pixels.shape][0].append(position)
        by_shape[pixels.shape][1].append(pixels)
        natives.add(native)
    groups = [(np.array(positions), np.stack(arrays)) for positions, arrays in by_shape.values()]
    return groups, natives, failed, vanished


def _workers() -> int:
    affinity = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity else os.cpu_count() or 1


def decode_all(folder: Path, files: list[str], size: int | None, channels: int | None) -> np.ndarray:
    """All images as one uint8 array (N, S, S) or (N, S, S, 3), decoded in parallel over the cores."""
    workers = _workers()
    per_chunk = max(16, min(512, math.ceil(len(files) / (8 * workers))))
    chunks = [files[i : i + per_chunk] for i in range(0, len(files), per_chunk)]
    results, natives, failed, vanished = [], set(), [], []
    try:
        with ProcessPoolExecutor(max_workers=min(workers, len(chunks)), initializer=_no_bombs) as pool:
            for groups, own, bad, gone in pool.map(
                _decode_chunk, repeat(str(folder)), chunks, repeat(size), repeat(channels)
            ):
                results.append(groups)
                natives |= own
                failed += bad
                vanished += gone
    except BrokenProcessPool:
        raise DataError(f"decoding {folder} failed: a worker process died (out of memory?)") from None
    if vanished:
        raise DataError(f"{folder} changed while it was being read ({first_few(vanished)} vanished); run again")
    if failed:
        raise DataError(
            f"{len(failed)} file(s) in {folder} are not readable images: "
            f"{first_few([f'{rel} ({reason})' for rel, reason in failed])}; remove or replace them"
        )
    side = size or default_size(natives)
    colour = channels == 3 or any(stack.ndim == 4 for groups in results for _, stack in groups)
    images = np.empty((len(files), side, side, 3) if colour else (len(files), side, side), np.uint8)
    for offset, groups in zip(range(0, len(files), per_chunk), results, strict=True):
        for positions, stack in groups:
            if stack.shape[1] != side:
                stack = np.stack([np.asarray(fit_square(Image.fromarray(pixels), side)) for pixels in stack])
            images[offset + positions] = stack[..., None] if colour and stack.ndim == 3 else stack
    return images


# --- the cache --------------------------------------------------------------------------------


def cache_file(folder: Path, listing: Listing, size: int | None, channels: int | None) -> Path:
    """$XDG_CACHE_HOME/cgan/folders/<folder's digest>-<listing's digest>.npz"""
    where = hashlib.sha256(str(folder).encode("utf-8", "surrogateescape")).hexdigest()[:12]
    content = json.dumps([CACHE_VERSION, size, channels, listing.digest])
    return cache_root() / "folders" / f"{where}-{hashlib.sha256(content.encode()).hexdigest()[:20]}.npz"


def read_meta(cache: Path) -> dict | None:
    """The cache file's description, or None where it is missing or damaged (then it is rebuilt)."""
    try:
        with np.load(cache, allow_pickle=False) as stored:
            meta = json.loads(bytes(stored["meta"]).decode())
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, UnicodeDecodeError):
        return None
    return meta if isinstance(meta, dict) and meta.get("version") == CACHE_VERSION else None


def read_splits(cache: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    try:
        with np.load(cache, allow_pickle=False) as stored:
            return {s: (stored[f"{s}_images"], stored[f"{s}_labels"]) for s in ("train", "test")}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        cache.unlink(missing_ok=True)
        raise DataError(
            f"the decoded images in {cache} are unreadable ({exc}); run again to decode anew"
        ) from None


def _build(folder: Path, listing: Listing, size: int | None, channels: int | None, cache: Path) -> dict:
    images = decode_all(folder, listing.files, size, channels)
    if cache_file(folder, list_folder(folder), size, channels) != cache:
        raise DataError(f"{folder} changed while it was being read; run again")
    labels = np.array(listing.labels, dtype=np.int64)
    name = folder.name
    if listing.test is None:
        content, splits = split_sets(name, listing.classes, images, labels, str(folder))
    else:
        test = np.array(listing.test)
        check_labels(labels[~test], listing.classes, str(folder / "train"))
        splits = {"train": (images[~test], labels[~test]), "test": (images[test], labels[test])}
        content = fingerprint(name, listing.classes, [a for pair in splits.values() for a in pair])
    meta = {
        "version": CACHE_VERSION,
        "name": name,
        "folder": str(folder),
        "classes": list(listing.classes),
        "image_shape": [3 if images.ndim == 4 else 1, images.shape[1], images.shape[2]],
        "fingerprint": content,
        "held_out": listing.test is None,
        "counts": {
            s: np.bincount(y, minlength=len(listing.classes)).tolist() for s, (_, y) in splits.items()
        },
    }
    arrays = {
        f"{s}_{kind}": a
        for s, pair in splits.items()
        for kind, a in zip(("images", "labels"), pair, strict=True)
    }
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)

    def write(tmp):
        with open(tmp, "wb") as out:
            np.savez(out, **arrays)

    try:
        atomic_write(cache, write)
    except OSError as exc:
        raise DataError(f"cannot write the decoded images to {cache} ({exc})") from None
    for older in cache.parent.glob(f"{cache.name.split('-')[0]}-*.npz"):
        if older != cache:
            older.unlink(missing_ok=True)
    return meta


def open_folder(folder: Path, size: int | None, channels: int | None) -> tuple[dict, Path]:
    """The description of the image folder's dataset and its cache file, decoding it first where the cache
    does not match the folder's listing."""
    try:
        listing = list_folder(folder)
    except OSError as exc:
        raise DataError(f"cannot read {folder} ({exc})") from None
    cache = cache_file(folder, listing, size, channels)
    meta = read_meta(cache)
    return (meta if meta is not None else _build(folder, listing, size, channels, cache)), cache
