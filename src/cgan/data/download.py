"""Downloading a built-in dataset from its official mirrors: verified by the checksum of the decompressed
content, each file written atomically into the cache."""

from __future__ import annotations

import hashlib
import http.client
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from tqdm import tqdm

from ..errors import DataError
from .files import ENV_DATA_DIR, cache_dir, file_in
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
            remember(target, spec, filename)
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
    except FileExistsError:
        raise DataError(f"cannot create download folder {dest}: it is a file") from None
    except OSError as exc:
        raise DataError(f"cannot create download folder {dest}: {exc.strerror or exc}") from None

    for filename in spec.filenames:
        if not _is_valid(file_in(dest, filename), filename, spec):
            _download_file(filename, spec, dest, mirrors, timeout, progress)
    return dest
