"""MNIST and Fashion-MNIST: find the IDX files on disk, read and check them, download them if asked.

Everything a user can get wrong (missing folder, corrupt file, failed download) raises `DataError`
with a message that says what is wrong and how to fix it.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import os
import re
import struct
import tempfile
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass, field
from numbers import Integral
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from cgan.errors import DataError

GZIP_MAGIC = b"\x1f\x8b"
IDX_UBYTE = 0x08

# Searched after the user's own folders; a module attribute so tests can point it elsewhere.
SYSTEM_DIRS: tuple[Path, ...] = (Path("/usr/share/datasets"), Path("/usr/local/share/datasets"))
# Relative to the working directory: where torchvision and most scripts put their data by default.
LOCAL_DATA_ROOT = Path("data")
ENV_DATA_DIR = "CGAN_DATA_DIR"

_USER_AGENT = "cgan-data-downloader (python urllib)"
_CHUNK = 1 << 16


def _normalise(text: str) -> str:
    """Fold case and drop punctuation/spaces, so "Ankle boot", "ankle_boot" and "ankle-boot" compare equal."""
    return re.sub(r"[^a-z0-9]", "", text.lower())


@dataclass(frozen=True)
class DatasetSpec:
    """What a dataset is called, what its files are, how to check them and where to download them."""

    name: str
    classes: tuple[str, ...]
    image_shape: tuple[int, int, int]
    files: dict[str, tuple[str, str]]
    sha256: dict[str, str]
    mirrors: tuple[str, ...]
    counts: dict[str, int]
    # Folder name torchvision uses under its root, holding the files in "raw/".
    torchvision_dir: str = ""
    # Debian/Ubuntu package that installs the files under /usr/share/datasets/<name>.
    apt_package: str | None = None
    # Other accepted spellings of class names (normalised with `_normalise`) -> label.
    aliases: dict[str, int] = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def filenames(self) -> tuple[str, ...]:
        """All files of all splits, in download order."""
        return tuple(f for split in self.files for f in self.files[split])

    def class_index(self, label: str | int) -> int:
        """Label index from an index (7 or "7") or a class name ("sneaker", "Ankle boot", "T-shirt/top")."""
        if isinstance(label, Integral) and not isinstance(label, bool):
            index = int(label)
        elif isinstance(label, str) and label.strip().isdigit():
            index = int(label.strip())
        elif isinstance(label, str):
            key = _normalise(label)
            names = {_normalise(c): i for i, c in enumerate(self.classes)} | self.aliases
            if key not in names:
                raise DataError(
                    f"unknown {self.name} class {label!r}; use an index 0-{self.num_classes - 1} "
                    f"or one of: {', '.join(self.classes)}"
                )
            return names[key]
        else:
            raise DataError(f"a class label must be an int or a string, not {type(label).__name__}")
        if not 0 <= index < self.num_classes:
            raise DataError(
                f"{self.name} class index {index} is out of range; use 0-{self.num_classes - 1} "
                f"or one of: {', '.join(self.classes)}"
            )
        return index


_IDX_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
_COUNTS = {"train": 60000, "test": 10000}

# SHA-256 of the decompressed IDX files. Mirrors gzip the same bytes differently, so only the
# decompressed content is a stable identity.
DATASETS: dict[str, DatasetSpec] = {
    "mnist": DatasetSpec(
        name="mnist",
        classes=tuple(str(d) for d in range(10)),
        image_shape=(1, 28, 28),
        files=_IDX_FILES,
        sha256={
            "train-images-idx3-ubyte.gz": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
            "train-labels-idx1-ubyte.gz": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
            "t10k-images-idx3-ubyte.gz": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
            "t10k-labels-idx1-ubyte.gz": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        },
        mirrors=(
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
            "http://yann.lecun.com/exdb/mnist/",
        ),
        counts=_COUNTS,
        torchvision_dir="MNIST",
    ),
    "fashion-mnist": DatasetSpec(
        name="fashion-mnist",
        classes=(
            "t-shirt",
            "trouser",
            "pullover",
            "dress",
            "coat",
            "sandal",
            "shirt",
            "sneaker",
            "bag",
            "ankle-boot",
        ),
        image_shape=(1, 28, 28),
        files=_IDX_FILES,
        sha256={
            "train-images-idx3-ubyte.gz": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
            "train-labels-idx1-ubyte.gz": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
            "t10k-images-idx3-ubyte.gz": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
            "t10k-labels-idx1-ubyte.gz": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        },
        mirrors=(
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
            "https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/",
        ),
        counts=_COUNTS,
        torchvision_dir="FashionMNIST",
        apt_package="dataset-fashion-mnist",
        # The official Fashion-MNIST label names.
        aliases={"tshirttop": 0, "top": 0, "sneakers": 7, "boot": 9},
    ),
}


def get_spec(name: str) -> DatasetSpec:
    """The spec for "mnist" or "fashion-mnist" (also "fashion_mnist", "FashionMNIST", ...)."""
    by_key = {_normalise(n): spec for n, spec in DATASETS.items()}
    spec = by_key.get(_normalise(name)) if isinstance(name, str) else None
    if spec is None:
        raise DataError(f"unknown dataset {name!r}; known datasets: {', '.join(DATASETS)}")
    return spec


# --- IDX format -------------------------------------------------------------------------------


def _decompress_if_gzip(data: bytes, source: str) -> bytes:
    """Gunzip `data` when it starts with the gzip magic (whatever the file is called)."""
    if not data.startswith(GZIP_MAGIC):
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(
            f"{source} is a corrupt or truncated gzip file ({exc}); delete it and download it again"
        ) from exc


def _parse_idx(data: bytes, source: str) -> np.ndarray:
    """Decode uncompressed IDX bytes (unsigned bytes, 1 or 3 dimensions) into a writable array."""
    if len(data) < 4 or data[:2] != b"\x00\x00":
        raise DataError(f"{source} is not an IDX file (bad magic number {data[:4].hex() or 'empty'})")
    dtype_code, ndim = data[2], data[3]
    if dtype_code != IDX_UBYTE:
        raise DataError(f"{source}: IDX data type 0x{dtype_code:02x} is not supported, expected 0x08 (uint8)")
    if ndim not in (1, 3):
        raise DataError(f"{source}: IDX file has {ndim} dimensions, expected 1 (labels) or 3 (images)")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{source}: IDX header is truncated ({len(data)} bytes, expected {header})")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    expected, actual = int(np.prod(dims)), len(data) - header
    if actual != expected:
        problem = "truncated" if actual < expected else "has trailing bytes"
        raise DataError(
            f"{source} is {problem}: dimensions {'x'.join(map(str, dims))} need {expected} data bytes, "
            f"found {actual}; delete it and download it again"
        )
    # Copy so the result is writable (np.frombuffer over bytes is read-only; torch wants writable).
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims).copy()


def _read_bytes(path: Path) -> bytes:
    try:
        return _decompress_if_gzip(path.read_bytes(), str(path))
    except FileNotFoundError as exc:
        raise DataError(f"{path} does not exist") from exc
    except IsADirectoryError as exc:
        raise DataError(f"{path} is a folder, expected an IDX file") from exc


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file of unsigned bytes, gzipped or not (detected by content, not by name)."""
    path = Path(path)
    return _parse_idx(_read_bytes(path), str(path))


# --- finding files ----------------------------------------------------------------------------


def cache_dir(name: str) -> Path:
    """Per-user download folder: $XDG_CACHE_HOME/cgan/<name>, by default ~/.cache/cgan/<name>."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "cgan" / get_spec(name).name


def _file_in(folder: Path, filename: str) -> Path | None:
    """`filename` in `folder`, else its un-gzipped twin (the same name without ".gz")."""
    # The ".gz" name first: it is what `download` writes, so a fresh download wins over a stale twin.
    for candidate in (folder / filename, folder / filename.removesuffix(".gz")):
        if candidate.is_file():
            return candidate
    return None


def _missing_files(folder: Path, spec: DatasetSpec) -> list[str]:
    return [f for f in spec.filenames if _file_in(folder, f) is None]


def _folders_under(root: Path, spec: DatasetSpec) -> list[Path]:
    """Where a root folder may hold the files: itself, <root>/<name>, torchvision's <root>/<Name>/raw."""
    return [root, root / spec.name, root / spec.torchvision_dir / "raw"]


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
        f"Get the {spec.name} files ({names}; gzipped or not) in one of these ways:",
        f"  - download them: cgan data download {spec.name}  (saves to {cache_dir(spec.name)})",
        "  - point to a folder that has them: --data-dir DIR",
        f"  - or set the environment variable {ENV_DATA_DIR}=DIR",
    ]
    if spec.apt_package:
        lines.append(f"  - or install the system package: sudo apt-get install {spec.apt_package}")
    return "\n".join(lines)


def find_data_dir(name: str, data_dir: str | os.PathLike | None = None) -> Path:
    """The folder holding all four IDX files of dataset `name`.

    With `data_dir`, only that folder is searched: DATA_DIR, DATA_DIR/<name> and torchvision's
    DATA_DIR/<MNIST|FashionMNIST>/raw. Otherwise, in order:

    1. $CGAN_DATA_DIR, $CGAN_DATA_DIR/<name>, $CGAN_DATA_DIR/<MNIST|FashionMNIST>/raw
    2. the download cache, $XDG_CACHE_HOME/cgan/<name> (default ~/.cache/cgan/<name>)
    3. system folders: /usr/share/datasets/<name>, /usr/local/share/datasets/<name>
       (Debian's dataset-fashion-mnist package installs into the first)
    4. ./data/<name> and torchvision's ./data/<MNIST|FashionMNIST>/raw

    A folder counts only when it holds all four files, each gzipped (".gz") or not.
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


def load(
    name: str, split: str = "train", data_dir: str | os.PathLike | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Images as uint8 (N, 28, 28) and labels as int64 (N,) for `split` ("train" or "test")."""
    spec = get_spec(name)
    if split not in spec.files:
        raise DataError(f"unknown split {split!r} for {spec.name}; use one of: {', '.join(spec.files)}")
    folder = find_data_dir(spec.name, data_dir)
    image_file, label_file = (_file_in(folder, f) for f in spec.files[split])
    images, labels = read_idx(image_file), read_idx(label_file)

    height_width = spec.image_shape[1:]
    if images.ndim != 3 or images.shape[1:] != height_width:
        raise DataError(
            f"{image_file} holds arrays of shape {images.shape}, expected (N, {height_width[0]}, "
            f"{height_width[1]}) images; is it the right file?"
        )
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
    return torch.from_numpy(images), torch.from_numpy(labels.astype(np.int64))


# --- downloading ------------------------------------------------------------------------------


def _verify(path: Path, filename: str, spec: DatasetSpec) -> None:
    """Check the decompressed content of `path` against the spec's checksum and the IDX format."""
    data = _read_bytes(path)
    digest = hashlib.sha256(data).hexdigest()
    if digest != spec.sha256[filename]:
        raise DataError(f"sha256 mismatch: got {digest}, expected {spec.sha256[filename]}")
    _parse_idx(data, filename)


def _is_valid(path: Path | None, filename: str, spec: DatasetSpec) -> bool:
    if path is None:
        return False
    try:
        _verify(path, filename, spec)
    except DataError:
        return False
    return True


def _fetch(url: str, out, timeout: float, progress: bool, label: str) -> None:
    """Stream `url` into the open binary file `out`; raise DataError if the body is cut short."""
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        received = 0
        with tqdm(total=total, unit="B", unit_scale=True, desc=label, disable=not progress) as bar:
            while chunk := response.read(_CHUNK):
                out.write(chunk)
                received += len(chunk)
                bar.update(len(chunk))
    if total is not None and received != total:
        raise DataError(f"truncated download: got {received} of {total} bytes")


def _failure_reason(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        return f"cannot connect ({exc.reason})"
    if isinstance(exc, TimeoutError):
        return "timed out"
    return str(exc) or type(exc).__name__


def _download_file(
    filename: str, spec: DatasetSpec, dest: Path, mirrors: tuple[str, ...], timeout: float, progress: bool
) -> Path:
    """Fetch one file from the first mirror that serves valid content; write it atomically."""
    target = dest / filename
    failures = []
    for mirror in mirrors:
        url = mirror.rstrip("/") + "/" + filename
        # A temp file in the destination folder, so os.replace is an atomic rename.
        fd, tmp_name = tempfile.mkstemp(dir=dest, prefix=f".{filename}.", suffix=".part")
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                _fetch(url, out, timeout, progress, filename)
            _verify(tmp, filename, spec)
            os.replace(tmp, target)
            return target
        except (DataError, OSError, http.client.HTTPException) as exc:
            # OSError covers URLError, HTTPError, timeouts and connection resets.
            failures.append(f"  {url}: {_failure_reason(exc)}")
        finally:
            tmp.unlink(missing_ok=True)
    raise DataError(
        f"could not download {filename} for {spec.name}; every mirror failed:\n"
        + "\n".join(failures)
        + f"\nCheck the network connection (or proxy settings), or get the files another way and use "
        f"--data-dir DIR or {ENV_DATA_DIR}=DIR."
    )


def download(
    name: str,
    dest: str | os.PathLike | None = None,
    mirrors: tuple[str, ...] | list[str] | None = None,
    timeout: float = 30.0,
    progress: bool = False,
) -> Path:
    """Download and verify all four files of dataset `name` into `dest` (default: `cache_dir(name)`).

    Each file is tried on every mirror in turn until one serves content whose decompressed sha256
    matches. Files already in `dest` and valid are kept. Returns the folder.
    """
    spec = get_spec(name)
    dest = Path(dest).expanduser() if dest is not None else cache_dir(spec.name)
    mirrors = tuple(mirrors) if mirrors is not None else spec.mirrors
    if not mirrors:
        raise DataError("no download mirrors given")
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cannot create download folder {dest}: {exc}") from exc

    for filename in spec.filenames:
        if not _is_valid(_file_in(dest, filename), filename, spec):
            _download_file(filename, spec, dest, mirrors, timeout, progress)
    return dest
