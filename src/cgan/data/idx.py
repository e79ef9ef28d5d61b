"""The IDX format of MNIST-style files: unsigned bytes, 1 dimension (labels) or 3 (images), gzipped or not."""

from __future__ import annotations

import gzip
import io
import math
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from ..errors import DataError

GZIP_MAGIC = b"\x1f\x8b"
IDX_UBYTE = 0x08
# The most bytes an IDX file may hold, compressed or not: far above the largest known one (47 MB).
MAX_BYTES = 2**28


def _decompress_if_gzip(data: bytes, source: str) -> bytes:
    """Gunzip `data` when it starts with the gzip magic (whatever the file is called)."""
    if not data.startswith(GZIP_MAGIC):
        return data
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as packed:
            content = packed.read(MAX_BYTES + 1)  # a few compressed bytes can claim gigabytes
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(
            f"{source} is a corrupt or truncated gzip file ({exc}); delete it and download it again"
        ) from exc
    if len(content) > MAX_BYTES:
        raise DataError(f"{source} decompresses to over {MAX_BYTES:,} bytes; it is no dataset file cgan knows")
    return content


def parse_idx(data: bytes, source: str) -> np.ndarray:
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
    expected, actual = math.prod(dims), len(data) - header  # Python integers: numpy's would overflow
    if actual != expected:
        problem = "truncated" if actual < expected else "has trailing bytes"
        raise DataError(
            f"{source} is {problem}: dimensions {'x'.join(map(str, dims))} need {expected} data bytes, "
            f"found {actual}; delete it and download it again"
        )
    # Copy so the result is writable (np.frombuffer over bytes is read-only; torch wants writable).
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims).copy()


def read_bytes(path: Path) -> bytes:
    try:
        if path.stat().st_size > MAX_BYTES:
            raise DataError(f"{path} holds over {MAX_BYTES:,} bytes; it is no dataset file cgan knows")
        return _decompress_if_gzip(path.read_bytes(), str(path))
    except FileNotFoundError as exc:
        raise DataError(f"{path} does not exist") from exc
    except IsADirectoryError as exc:
        raise DataError(f"{path} is a folder, expected an IDX file") from exc
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}") from None


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file of unsigned bytes, gzipped or not (detected by content, not by name)."""
    path = Path(path)
    return parse_idx(read_bytes(path), str(path))
