"""Saving and loading weights and training state: safetensors + JSON, no pickle, every write atomic.

A safetensors file holds only tensors and a string-to-string header, so loading one from a stranger
cannot run code. Each file is written to a temporary name beside its target and renamed into place, so a
kill at any moment leaves either the previous good file or the new one, never half of one.
"""

from __future__ import annotations

import errno
import json
import os
import re
import tempfile
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from .errors import CheckpointError

CHECKPOINT_FORMAT = "cgan-training-state"
GENERATOR_FORMAT = "cgan-generator"
FORMAT_VERSION = "1"


def atomic_write(path: Path, write) -> None:
    """Call `write(tmp_path)` on a temporary file in the target's folder, then rename it over `path`.
    An operating-system error (a read-only folder, a full disk) is an OSError naming `path`."""
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        write(tmp)
        # mkstemp makes files private, and some writers (safetensors) recreate the file: the usual permissions.
        os.chmod(tmp, 0o666 & ~current_umask())
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise naming(exc, path) from None
        raise


def naming(exc: OSError, path: Path) -> OSError:
    """`exc` as the error of `path` (the file the user asked for, not a temporary name)."""
    if isinstance(exc, FileExistsError):  # mkdir met a file where a folder of the path should be
        return NotADirectoryError(errno.ENOTDIR, "a file stands where a folder should be", str(path))
    return OSError(exc.errno, exc.strerror or str(exc), str(path))


def check_writable(folder: Path) -> None:
    """Create `folder` and try a file in it, so a long job learns it cannot save before it starts, not after."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise naming(exc, folder) from None


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_json(path: Path, data: dict) -> None:
    atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(data, indent=2) + "\n"))


def read_json(path: Path, what: str) -> dict:
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise CheckpointError(f"{what} not found: {path}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{what} {path} is not valid JSON ({exc}); the file is damaged") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{what} {path} should hold a JSON object")
    return data


def save_tensors(path: Path, tensors: dict[str, torch.Tensor], fmt: str, meta: dict) -> None:
    """Write tensors plus a JSON metadata object (under the header key "meta") atomically."""
    tensors = {name: t.detach().cpu().contiguous() for name, t in tensors.items()}
    header = {"format": fmt, "version": FORMAT_VERSION, "meta": json.dumps(meta)}

    def write(tmp):
        try:
            save_file(tensors, tmp, metadata=header)
        except SafetensorError as exc:  # how safetensors reports a failed write, such as a full disk
            if match := re.search(r"os error (\d+)", str(exc)):
                raise OSError(int(match[1]), os.strerror(int(match[1]))) from None
            raise

    atomic_write(path, write)


def load_tensors(path: Path, fmt: str) -> tuple[dict[str, torch.Tensor], dict]:
    """Read a file written by `save_tensors`; anything else is a clear CheckpointError."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no weights file at {path}")
    try:
        with safe_open(str(path), framework="pt") as f:
            header = f.metadata() or {}
            tensors = {name: f.get_tensor(name) for name in f.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise CheckpointError(
            f"{path} is not a readable safetensors file ({exc}); it may be truncated"
        ) from None
    if header.get("format") != fmt:
        found = header.get("format", "no cgan header")
        raise CheckpointError(f"{path} is not a {fmt} file (found: {found}); was it written by cgan?")
    if header.get("version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has format version {header.get('version')}, this cgan reads {FORMAT_VERSION}"
        )
    try:
        meta = json.loads(header.get("meta", "{}"))
    except json.JSONDecodeError:
        raise CheckpointError(f"{path} has a damaged metadata header") from None
    return tensors, meta


def module_tensors(prefix: str, module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {f"{prefix}.{name}": t for name, t in module.state_dict().items()}


def load_module(prefix: str, module: torch.nn.Module, tensors: dict[str, torch.Tensor], source: Path) -> None:
    own = {name[len(prefix) + 1 :]: t for name, t in tensors.items() if name.startswith(prefix + ".")}
    try:
        module.load_state_dict(own, strict=True)
    except RuntimeError as exc:
        first_line = str(exc).strip().splitlines()[0]
        raise CheckpointError(
            f"{source}: weights do not fit the model described beside them ({first_line})"
        ) from None


def optimizer_tensors(prefix: str, optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], list]:
    """Split an optimiser's state into tensors (per-parameter moments) and JSON (hyper-parameters)."""
    state = optimizer.state_dict()
    tensors = {}
    for index, param_state in state["state"].items():
        for key, value in param_state.items():
            tensors[f"{prefix}.{index}.{key}"] = value if torch.is_tensor(value) else torch.tensor(value)
    return tensors, state["param_groups"]


def load_optimizer(prefix: str, optimizer, tensors: dict, param_groups: list, source: Path) -> None:
    state: dict[int, dict] = {}
    for name, value in tensors.items():
        if name.startswith(prefix + "."):
            index, key = name[len(prefix) + 1 :].split(".", 1)
            state.setdefault(int(index), {})[key] = value
    try:
        optimizer.load_state_dict({"state": state, "param_groups": param_groups})
    except (ValueError, KeyError, RuntimeError) as exc:
        raise CheckpointError(f"{source}: optimiser state does not fit this model ({exc})") from None
    # Saved moments come back contiguous; give them their parameter's memory layout (e.g. channels_last), as
    # fused optimiser kernels walk a parameter and its moments in memory order.
    for group in optimizer.param_groups:
        for param in group["params"]:
            param_state = optimizer.state.get(param, {})
            for key, value in param_state.items():
                if torch.is_tensor(value) and value.shape == param.shape and value.stride() != param.stride():
                    param_state[key] = torch.empty_like(param).copy_(value)
