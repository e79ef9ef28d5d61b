"""CIFAR-10's binary distribution: batches of records (1 label byte, then the 32x32 red, green and blue
planes), the class names in batches.meta.txt, and unpacking the downloaded archive safely."""

from __future__ import annotations

import tarfile
from pathlib import Path

import numpy as np

from ..errors import DataError

SIDE = 32
RECORD = 1 + 3 * SIDE * SIDE
ARCHIVE_FOLDER = "cifar-10-batches-bin"


def parse_batch(data: bytes, source: str, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images (N, 32, 32, 3) and labels (N,) of one batch file's bytes."""
    if not data or len(data) % RECORD:
        raise DataError(
            f"{source} is not a CIFAR-10 binary batch: {len(data)} bytes is not a whole number of "
            f"{RECORD}-byte records; delete it and download it again"
        )
    records = np.frombuffer(data, dtype=np.uint8).reshape(-1, RECORD)
    labels = records[:, 0].astype(np.int64)
    if int(labels.max()) >= num_classes:
        raise DataError(
            f"{source} has label {int(labels.max())}, but CIFAR-10 has {num_classes} classes; "
            "is it a CIFAR-100 file?"
        )
    images = records[:, 1:].reshape(-1, 3, SIDE, SIDE).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels


def read_batches(paths: list[Path], num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    parts = [parse_batch(path.read_bytes(), str(path), num_classes) for path in paths]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def check_meta(path: Path, classes: tuple[str, ...]) -> None:
    """batches.meta.txt names the classes one per line, in label order."""
    try:
        names = tuple(line.strip() for line in path.read_text().splitlines() if line.strip())
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path} is not readable ({exc})") from None
    if names != classes:
        raise DataError(
            f"{path} names the classes {', '.join(names) or 'nothing'}; expected {', '.join(classes)}"
        )


def extract(archive: Path, dest: Path, filenames: tuple[str, ...]) -> None:
    """Unpack `filenames` from the archive's cifar-10-batches-bin/ into `dest`: regular files only, each
    written under its own name (so no member can land outside `dest`); anything else in the archive is left."""
    wanted = {f"{ARCHIVE_FOLDER}/{name}": name for name in filenames}
    found = set()
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                name = wanted.get(member.name.removeprefix("./"))
                if name is None:
                    continue
                source = tar.extractfile(member) if member.isreg() else None
                if source is None:
                    raise DataError(f"{archive}: {member.name} is not a regular file")
                with source, open(dest / name, "wb") as out:
                    while chunk := source.read(1 << 20):
                        out.write(chunk)
                found.add(name)
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise DataError(f"{archive} is not a readable .tar.gz ({exc})") from None
    missing = [name for name in filenames if name not in found]
    if missing:
        raise DataError(f"{archive} lacks {', '.join(f'{ARCHIVE_FOLDER}/{m}' for m in missing)}")
