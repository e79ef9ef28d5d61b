"""Synthetic datasets: many labelled images from a generator, written as a dataset other tools train on.

Formats:
    folder   OUT/<class name>/<class name>_000000.png (the layout torchvision's ImageFolder, Keras and
             `cgan train --data` read)
    npz      images (N, H, W[, C]) uint8, labels (N,) int64, class_names (K,) str
    idx      the MNIST file pair train-images-idx3-ubyte / train-labels-idx1-ubyte (grayscale only)

Each writes manifest.json (beside the images, or OUT.manifest.json for a file): the generator, seed, counts
and format. Images are generated and written a chunk at a time, so memory does not grow with the count; the
output appears only when complete (written under a temporary name, then renamed). The noise of chunk k is
drawn from (seed, k), so the same seed and counts give the same dataset.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import tempfile
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from . import __version__
from .checkpoint import current_umask
from .errors import CganError
from .generation import TrainedGenerator
from .generation.generator import check_seed
from .images import pixel_shape, png_bytes
from .units import SEED_LIMIT

FORMATS = ("folder", "npz", "idx")
CHUNK = 1024  # images generated and written at once
MAX_IMAGES = 10_000_000


@dataclass(frozen=True)
class SynthResult:
    path: Path
    counts: list[int]  # images per class
    manifest: dict


def class_counts(num_classes: int, per_class: int | None, count: int | None, proportions=None) -> list[int]:
    """Images per class: `per_class` of each, or `count` in all split by `proportions` (weights per class,
    default equal), rounded so that they add up to `count` exactly."""
    if (per_class is None) == (count is None):
        raise CganError("give either --per-class N or --count N (with optional --proportions)")
    if per_class is not None:
        if proportions is not None:
            raise CganError("--proportions splits --count; with --per-class every class gets the same number")
        counts = [per_class] * num_classes
    else:
        assert count is not None  # exactly one of the two, as checked above
        if proportions is None and 0 < count < num_classes:
            raise CganError(
                f"--count {count} would leave {num_classes - count} of the {num_classes} classes without "
                f"images; ask for at least {num_classes} (or leave classes out with weight 0 in --proportions)"
            )
        weights = np.ones(num_classes) if proportions is None else np.asarray(proportions, dtype=float)
        if len(weights) != num_classes or not np.all(np.isfinite(weights)) or (weights < 0).any():
            raise CganError(f"--proportions needs {num_classes} non-negative weights, one per class")
        weights = weights / weights.max() if weights.max() > 0 else weights  # 1e308s would sum to infinity
        if weights.sum() <= 0:
            raise CganError("--proportions must give some class a positive weight")
        exact = count * weights / weights.sum()
        counts = np.floor(exact).astype(int)
        # The largest remainders get the images that rounding down left over.
        counts[np.argsort(exact - counts, kind="stable")[::-1][: count - counts.sum()]] += 1
        counts = counts.tolist()
    if sum(counts) < 1:
        raise CganError("no images to write: ask for at least one")
    if sum(counts) > MAX_IMAGES:
        raise CganError(f"{sum(counts)} images asked for; at most {MAX_IMAGES} at once")
    return counts


def labelled_chunks(
    generator: TrainedGenerator, counts: Sequence[int], seed: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(images, labels) chunk by chunk: class 0's images first, then class 1's, and so on."""
    labels = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
    for k, start in enumerate(range(0, len(labels), CHUNK)):
        chunk = labels[start : start + CHUNK]
        z = torch.randn(len(chunk), generator.arch.latent_dim, generator=chunk_generator(seed, k))
        yield generator.render(z, torch.from_numpy(chunk)), chunk


def chunk_generator(seed: int, chunk: int) -> torch.Generator:
    mixed = np.random.SeedSequence([seed, chunk]).generate_state(2, np.uint64)[0]
    return torch.Generator().manual_seed(int(mixed) % SEED_LIMIT)


def synthesize(
    generator: TrainedGenerator,
    out: str | os.PathLike,
    counts: Sequence[int],
    seed: int = 0,
    fmt: str | None = None,
    progress: bool = False,
    command: str | None = None,
) -> SynthResult:
    """Write `counts[c]` images of each class c from `generator` to `out` in format `fmt` (default: npz for
    an `out` ending in .npz, else folder)."""
    out = Path(out)
    fmt = fmt or ("npz" if out.suffix.lower() == ".npz" else "folder")
    seed = check_seed(seed)
    if fmt not in FORMATS:
        raise CganError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if len(counts) != len(generator.classes):
        raise CganError(f"{len(counts)} counts for {len(generator.classes)} classes")
    if (fmt == "npz") != (out.suffix.lower() == ".npz"):
        wanted = "a file name ending in .npz" if fmt == "npz" else "a folder, not a name ending in .npz"
        raise CganError(f"--format {fmt} writes {wanted}; got --out {out.name}")
    channels = generator.arch.image_shape[0]
    if fmt == "idx" and (channels != 1 or len(counts) > 256):
        raise CganError(
            "the IDX format holds grayscale images of up to 256 classes; use --format npz or folder"
        )
    if out.exists() and not (out.is_dir() and fmt != "npz" and not any(out.iterdir())):
        raise CganError(f"{out} already exists; choose a new --out (nothing was written)")
    manifest = {
        "format": fmt,
        "generator": generator.source,
        "dataset": generator.dataset,
        "classes": list(generator.classes),
        "image_shape": list(generator.arch.image_shape),
        "counts": list(map(int, counts)),
        "seed": seed,
        "cgan": __version__,
        "command": command or f"synthesize({generator.source!r}, seed={seed}, fmt={fmt!r})",
    }
    chunks = labelled_chunks(generator, counts, seed)
    bar = tqdm(total=sum(counts), disable=not progress, unit="img", desc="synth")
    writer = {"folder": write_folder, "npz": write_npz, "idx": write_idx}[fmt]
    try:
        writer(out, chunks, generator, manifest, bar)
    finally:
        bar.close()
    return SynthResult(out, list(counts), manifest)


def _staging_folder(out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))


def _publish(staging: Path, out: Path) -> None:
    """Move the finished folder into place; an empty folder at `out` (checked earlier) is replaced."""
    if out.is_dir():
        out.rmdir()
    os.chmod(staging, 0o777 & ~current_umask())
    os.replace(staging, out)


def _write_manifest(path: Path, manifest: dict) -> None:
    path.write_text(json.dumps(manifest, indent=2) + "\n")


@contextmanager
def _staged_folder(out: Path, manifest: dict) -> Iterator[Path]:
    """A staging folder beside `out` to fill; when filled, the manifest goes in and the folder becomes
    `out`; on any error (Ctrl-C included) it is removed, and `out` stays as it was."""
    staging = _staging_folder(out)
    try:
        yield staging
        _write_manifest(staging / "manifest.json", manifest)
        _publish(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def write_folder(out: Path, chunks, generator: TrainedGenerator, manifest: dict, bar) -> None:
    with _staged_folder(out, manifest) as staging:
        names = generator.classes
        written = [0] * len(names)
        for images, labels in chunks:
            for image, label in zip(images, labels, strict=True):
                name = names[label]
                if not written[label]:  # a class given no images gets no folder: readers refuse empty ones
                    (staging / name).mkdir()
                (staging / name / f"{name}_{written[label]:06d}.png").write_bytes(png_bytes(image))
                written[label] += 1
            bar.update(len(images))


def write_npz(out: Path, chunks, generator: TrainedGenerator, manifest: dict, bar) -> None:
    """The arrays are filled on disk (memory-mapped .npy files) and zipped from there."""
    staging = _staging_folder(out)
    total = sum(manifest["counts"])
    shape = (total, *pixel_shape(generator.arch.image_shape))
    try:
        images = np.lib.format.open_memmap(staging / "images.npy", mode="w+", dtype=np.uint8, shape=shape)
        labels = np.empty(total, dtype=np.int64)
        start = 0
        for chunk_images, chunk_labels in chunks:
            images[start : start + len(chunk_images)] = chunk_images
            labels[start : start + len(chunk_labels)] = chunk_labels
            start += len(chunk_images)
            bar.update(len(chunk_images))
        images.flush()
        del images
        np.save(staging / "labels.npy", labels)
        np.save(staging / "class_names.npy", np.array(generator.classes, dtype=str))
        archive = staging / "out.npz"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
            for name in ("images", "labels", "class_names"):
                zipped.write(staging / f"{name}.npy", arcname=f"{name}.npy")
        _write_manifest(staging / "manifest.json", manifest)
        os.chmod(archive, 0o666 & ~current_umask())
        os.replace(archive, out)
        os.replace(staging / "manifest.json", out.with_name(out.name + ".manifest.json"))
    finally:
        shutil.rmtree(staging, ignore_errors=True)


IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte")


def write_idx(out: Path, chunks, generator: TrainedGenerator, manifest: dict, bar) -> None:
    """OUT/train-images-idx3-ubyte and OUT/train-labels-idx1-ubyte, as MNIST ships them (uncompressed)."""
    total = sum(manifest["counts"])
    height, width = pixel_shape(generator.arch.image_shape)
    with _staged_folder(out, manifest) as staging:
        with open(staging / IDX_FILES[0], "wb") as images, open(staging / IDX_FILES[1], "wb") as labels:
            images.write(struct.pack(">4I", 0x0803, total, height, width))
            labels.write(struct.pack(">2I", 0x0801, total))
            for chunk_images, chunk_labels in chunks:
                images.write(np.ascontiguousarray(chunk_images).tobytes())
                labels.write(chunk_labels.astype(np.uint8).tobytes())
                bar.update(len(chunk_images))
