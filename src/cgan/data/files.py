"""Finding a built-in dataset's files on disk (the user's folder, the cache, system folders) and loading a
split from them (IDX or CIFAR binary), checked."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from ..errors import DataError
from .cifar import check_meta, read_batches
from .idx import parse_idx, read_bytes
from .specs import DatasetSpec, get_spec
from .verify import cache_root, verify

# Searched after the user's own folders; a module attribute so tests can point it elsewhere.
SYSTEM_DIRS: tuple[Path, ...] = (Path("/usr/share/datasets"), Path("/usr/local/share/datasets"))
# Relative to the working directory: where torchvision and most scripts put their data by default.
LOCAL_DATA_ROOT = Path("data")
ENV_DATA_DIR = "CGAN_DATA_DIR"


def cache_dir(name: str) -> Path:
    """Per-user download folder: $XDG_CACHE_HOME/cgan/<name>, by default ~/.cache/cgan/<name>."""
    return cache_root() / get_spec(name).name


def file_in(folder: Path, filename: str) -> Path | None:
    """`filename` in `folder`, else its un-gzipped twin (the same name without ".gz")."""
    # The ".gz" name first: it is what `download` writes, so a fresh download wins over a stale twin.
    for candidate in (folder / filename, folder / filename.removesuffix(".gz")):
        if candidate.is_file():
            return candidate
    return None


def _missing_files(folder: Path, spec: DatasetSpec) -> list[str]:
    return [f for f in spec.filenames if file_in(folder, f) is None]


def _folders_under(root: Path, spec: DatasetSpec) -> list[Path]:
    """Where a root folder may hold the files: itself, <root>/<name>, and e.g. torchvision's <root>/MNIST/raw."""
    return [root] + [root / sub for sub in spec.subfolders]


def _search_folders(spec: DatasetSpec) -> list[Path]:
    folders: list[Path] = []
    env_dir = os.environ.get(ENV_DATA_DIR)
    if env_dir:
        folders += _folders_under(Path(env_dir).expanduser(), spec)
    folders.append(cache_dir(spec.name))
    folders += [d / spec.name for d in SYSTEM_DIRS]
    folders += _folders_under(Path.cwd() / LOCAL_DATA_ROOT, spec)[1:]  # ./data itself is too generic to count
    return list(dict.fromkeys(folders))  # drop duplicates, keep order


def _describe(folder: Path, spec: DatasetSpec) -> str:
    if not folder.is_dir():
        return f"  {folder} (no such folder)"
    return f"  {folder} (missing {', '.join(_missing_files(folder, spec))})"


def _how_to_get(spec: DatasetSpec) -> str:
    names = ", ".join(spec.filenames)
    lines = [
        f"Get the {spec.name} files ({names}{'; gzipped or not' if spec.format == 'idx' else ''}) "
        "in one of these ways:",
        f"  - download them: cgan data download {spec.name}  (saves to {cache_dir(spec.name)})",
        "  - point to a folder that has them: --data-dir DIR",
        f"  - or set the environment variable {ENV_DATA_DIR}=DIR",
    ]
    if spec.apt_package:
        lines.append(f"  - or install the system package: sudo apt-get install {spec.apt_package}")
    return "\n".join(lines)


def find_data_dir(name: str, data_dir: str | os.PathLike | None = None) -> Path:
    """The folder holding all files of dataset `name`.

    With `data_dir`, only that folder is searched: DATA_DIR, DATA_DIR/<name> and the spec's other
    subfolders (torchvision's DATA_DIR/<MNIST|FashionMNIST>/raw, CIFAR's DATA_DIR/cifar-10-batches-bin).
    Otherwise, in order:

    1. $CGAN_DATA_DIR, $CGAN_DATA_DIR/<name>, the subfolders under $CGAN_DATA_DIR
    2. the download cache, $XDG_CACHE_HOME/cgan/<name> (default ~/.cache/cgan/<name>)
    3. system folders: /usr/share/datasets/<name>, /usr/local/share/datasets/<name>
       (Debian's dataset-fashion-mnist package installs into the first)
    4. ./data/<name> and the subfolders under ./data (torchvision's ./data/MNIST/raw, ...)

    A folder counts only when it holds all the files (IDX files gzipped (".gz") or not).
    """
    spec = get_spec(name)
    if data_dir is not None:
        folders = _folders_under(Path(data_dir).expanduser(), spec)
    else:
        folders = _search_folders(spec)
    for folder in folders:
        if folder.is_dir() and not _missing_files(folder, spec):
            return folder

    searched = "\n".join(_describe(f, spec) for f in folders)
    where = f"in {data_dir}" if data_dir is not None else "anywhere"
    raise DataError(f"{spec.name} data not found {where}. Searched:\n{searched}\n{_how_to_get(spec)}")


# --- loading ----------------------------------------------------------------------------------


def check_shape(images: np.ndarray, spec: DatasetSpec, image_file: Path) -> None:
    channels, height, width = spec.image_shape
    expected = (height, width) if channels == 1 else (height, width, channels)
    if images.shape[1:] != expected:
        shape = ", ".join(map(str, expected))
        raise DataError(
            f"{image_file} holds arrays of shape {images.shape}, expected (N, {shape}) images; is it the right file?"
        )


def _read_idx_split(folder: Path, spec: DatasetSpec, split: str) -> tuple[np.ndarray, np.ndarray]:
    """The split's IDX pair, checked by format and then against the published checksums (once per file:
    see verify.py)."""
    image_name, label_name = spec.files[split]
    image_file, label_file = file_in(folder, image_name), file_in(folder, label_name)
    assert image_file is not None and label_file is not None  # find_data_dir chose a folder that has both
    image_bytes, label_bytes = read_bytes(image_file), read_bytes(label_file)
    images, labels = parse_idx(image_bytes, str(image_file)), parse_idx(label_bytes, str(label_file))
    check_shape(images, spec, image_file)
    if labels.ndim != 1:
        raise DataError(f"{label_file} holds arrays of shape {labels.shape}, expected (N,) labels")
    if len(images) != len(labels):
        raise DataError(
            f"{image_file} has {len(images)} images but {label_file} has {len(labels)} labels; "
            "the two files do not belong together"
        )
    if labels.size and int(labels.max()) >= spec.num_classes:
        raise DataError(
            f"{label_file} has label {int(labels.max())}, but {spec.name} has only "
            f"{spec.num_classes} classes (0-{spec.num_classes - 1})"
        )
    # After the checks above, which say more about a damaged file than a checksum can.
    verify(image_file, image_bytes, spec, image_name)
    verify(label_file, label_bytes, spec, label_name)
    return images, labels.astype(np.int64)


def _read_cifar_split(folder: Path, spec: DatasetSpec, split: str) -> tuple[np.ndarray, np.ndarray]:
    for extra in spec.extra_files:
        check_meta(folder / extra, spec.classes)
    return read_batches([folder / f for f in spec.files[split]], spec.num_classes)


# How each DatasetSpec.format is read: (folder, spec, split) -> uint8 images, int64 labels.
READERS = {"idx": _read_idx_split, "cifar-binary": _read_cifar_split}


def load(
    name: str, split: str = "train", data_dir: str | os.PathLike | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Images as uint8 (N, H, W), or (N, H, W, 3) for colour, and labels as int64 (N,) for `split`
    ("train" or "test")."""
    spec = get_spec(name)
    if split not in spec.files:
        raise DataError(f"unknown split {split!r} for {spec.name}; use one of: {', '.join(spec.files)}")
    folder = find_data_dir(spec.name, data_dir)
    images, labels = READERS[spec.format](folder, spec, split)
    check_shape(images, spec, folder / spec.files[split][0])
    return torch.from_numpy(images), torch.from_numpy(labels)
