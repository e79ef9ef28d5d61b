"""Checking a built-in dataset's files against their known checksums, once per file: the files that passed
are remembered in the user cache ($XDG_CACHE_HOME/cgan/verified.json) by path, size and modification time,
so later runs read them without hashing them again."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from ..checkpoint import atomic_write
from ..errors import DataError
from .specs import DATASETS, DatasetSpec

MEMO_NAME = "verified.json"


def cache_root() -> Path:
    """The per-user cache folder: $XDG_CACHE_HOME/cgan, by default ~/.cache/cgan."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "cgan"


def memo_file() -> Path:
    return cache_root() / MEMO_NAME


def _identity(path: Path) -> tuple[str, dict]:
    stat = path.stat()
    return str(path.resolve()), {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _read_memo() -> dict:
    try:
        memo = json.loads(memo_file().read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}  # no memo yet, or a damaged one: the files are hashed again
    return memo if isinstance(memo, dict) else {}


def _remember(key: str, entry: dict) -> None:
    memo = {k: v for k, v in _read_memo().items() if Path(k).exists()}
    memo[key] = entry
    try:
        atomic_write(memo_file(), lambda tmp: Path(tmp).write_text(json.dumps(memo, indent=1) + "\n"))
    except OSError:
        pass  # a read-only cache only costs hashing again next time


def is_remembered(path: Path, spec: DatasetSpec, filename: str) -> bool:
    key, identity = _identity(path)
    return _read_memo().get(key) == {**identity, "sha256": spec.sha256[filename]}


def remember(path: Path, spec: DatasetSpec, filename: str) -> None:
    """Record `path` as holding the verified content of `filename` (its checksum was just checked)."""
    key, identity = _identity(path)
    _remember(key, {**identity, "sha256": spec.sha256[filename]})


def verify(path: Path, content: bytes, spec: DatasetSpec, filename: str) -> None:
    """Check the decompressed `content` read from `path` against the spec's checksum of `filename`, unless
    this very file (same path, size and modification time) passed before."""
    if is_remembered(path, spec, filename):
        return
    digest = hashlib.sha256(content).hexdigest()
    if digest != spec.sha256[filename]:
        raise DataError(f"{path} is not the {spec.name} file {filename}: {_what_it_is(digest, spec)}")
    remember(path, spec, filename)


def _what_it_is(digest: str, spec: DatasetSpec) -> str:
    for other in DATASETS.values():
        for name, known in other.sha256.items():
            if known == digest and other.name != spec.name:
                return (
                    f"it is {other.name}'s {name}; use --dataset {other.name}, or point --data-dir at the "
                    f"{spec.name} files"
                )
    return (
        "its content differs from the published one (damaged or modified); delete it and download it "
        f"again (cgan data download {spec.name}), or point --data-dir at good {spec.name} files"
    )
