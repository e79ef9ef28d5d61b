"""Downloading a built-in dataset from its official mirrors: IDX files one by one, verified by the checksum of
their decompressed content; CIFAR-10 as its archive, verified by its published md5, unpacked and checked;
each file written atomically into the cache."""

from __future__ import annotations

import functools
import hashlib
import http.client
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from tqdm import tqdm

from ..errors import DataError
from .cifar import extract
from .files import ENV_DATA_DIR, READERS, cache_dir, file_in
from .idx import parse_idx, read_bytes
from .specs import DatasetSpec, get_spec
from .verify import remember

_USER_AGENT = "cgan-data-downloader (python urllib)"
_CHUNK = 1 << 16


def _verify(path: Path, filename: str, spec: DatasetSpec) -> None:
    """Check the decompressed content of `path` against the spec's checksum and the IDX format."""
    data = read_bytes(path)
    digest = hashlib.sha256(data).hexdigest()
    if digest != spec.sha256[filename]:
        raise DataError(f"sha256 mismatch: got {digest}, expected {spec.sha256[filename]}")
    parse_idx(data, filename)


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


def _install_file(filename: str, spec: DatasetSpec, dest: Path, tmp: Path) -> None:
    _verify(tmp, filename, spec)
    os.replace(tmp, dest / filename)
    remember(dest / filename, spec, filename)


def _install_archive(spec: DatasetSpec, dest: Path, tmp: Path) -> None:
    """Check the archive's md5, unpack its files into a folder beside `dest`, check that they read as the
    dataset, then move each into `dest` (the meta file last, so the folder counts only when complete)."""
    md5 = hashlib.md5(usedforsecurity=False)
    with open(tmp, "rb") as f:
        while chunk := f.read(_CHUNK):
            md5.update(chunk)
    if md5.hexdigest() != spec.archive_md5:
        raise DataError(f"md5 mismatch: got {md5.hexdigest()}, expected {spec.archive_md5}")
    with tempfile.TemporaryDirectory(dir=dest, prefix=".unpack.") as folder:
        unpacked = Path(folder)
        extract(tmp, unpacked, spec.filenames)
        for split in spec.files:
            READERS[spec.format](unpacked, spec, split)
        for filename in spec.filenames:
            os.replace(unpacked / filename, dest / filename)


def _from_mirrors(
    filename: str,
    spec: DatasetSpec,
    dest: Path,
    mirrors: tuple[str, ...],
    timeout: float,
    progress: bool,
    install: Callable[[Path], None],
) -> None:
    """Fetch `filename` from the first mirror whose content `install(tmp)` accepts (and moves into `dest`)."""
    failures = []
    for mirror in mirrors:
        url = mirror.rstrip("/") + "/" + filename
        # A temp file in the destination folder, so os.replace is an atomic rename.
        fd, tmp_name = tempfile.mkstemp(dir=dest, prefix=f".{filename}.", suffix=".part")
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                _fetch(url, out, timeout, progress, filename)
            install(tmp)
            return
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
    """Download and verify all files of dataset `name` into `dest` (default: `cache_dir(name)`).

    Each file (or the dataset's archive) is tried on every mirror in turn until one serves content that
    verifies. Files already in `dest` and valid are kept. Returns the folder.
    """
    spec = get_spec(name)
    dest = Path(dest).expanduser() if dest is not None else cache_dir(spec.name)
    mirrors = tuple(mirrors) if mirrors is not None else spec.mirrors
    if not mirrors:
        raise DataError("no download mirrors given")
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise DataError(f"cannot create download folder {dest}: it is a file") from None
    except OSError as exc:
        raise DataError(f"cannot create download folder {dest}: {exc.strerror or exc}") from None

    if spec.archive:
        if not _archive_is_unpacked(dest, spec):
            install = functools.partial(_install_archive, spec, dest)
            _from_mirrors(spec.archive, spec, dest, mirrors, timeout, progress, install)
        return dest
    for filename in spec.filenames:
        if not _is_valid(file_in(dest, filename), filename, spec):
            install = functools.partial(_install_file, filename, spec, dest)
            _from_mirrors(filename, spec, dest, mirrors, timeout, progress, install)
    return dest


def _archive_is_unpacked(dest: Path, spec: DatasetSpec) -> bool:
    try:
        for split in spec.files:
            READERS[spec.format](dest, spec, split)
    except (DataError, OSError):
        return False
    return True
