"""A static web page that draws a generator's images in the visitor's browser, with no server running the model.

`export_web_demo` writes a folder that any static host (or `python -m http.server`) serves: index.html, its
script and style, the generator as ONNX (run by ONNX Runtime Web's WebAssembly build, shipped in this package
under ort/), and demo.json, which tells the page the class names, latent size and image shape. The page draws
the noise for a seed as PyTorch does on x86-64 (randn.js), so it shows the grid `cgan generate` writes for
the same class, count and seed. docs/web_demo.md says how it works and how big the folder is.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..checkpoint import current_umask, naming
from ..errors import CganError
from ..generation import load_generator
from ..run_folder import BUNDLED_DIR

ASSETS = Path(__file__).parent
PAGE_FILES = ("index.html", "app.js", "randn.js", "style.css")
ORT_FILES = ("ort.wasm.bundle.min.js", "ort-wasm-simd-threaded.wasm", "LICENSE")
ORT_WEB_VERSION = "1.30.0"  # the npm package onnxruntime-web that ort/ comes from (ort/README.md)
DEMO_FILE = "demo.json"
DEMO_FORMAT = "cgan-web-demo"
MODEL_FILE = "generator.onnx"


@dataclass(frozen=True)
class WebDemo:
    folder: Path
    size_bytes: int  # of every file in the folder
    worst_difference: float  # the ONNX graph's largest difference from PyTorch (export_onnx)


def export_web_demo(source: str | Path, folder: str | Path) -> WebDemo:
    """Write the demo page for the generator of `source` (a run folder, weights file or bundled name) into
    `folder`, which must be new, empty or an earlier demo (replaced whole). Nothing is left half-written: the
    page is built in a folder beside it and renamed into place."""
    from ..export import export_onnx  # needs the onnx extra

    folder = Path(folder)
    check_target(folder)
    if Path(source).suffix == ".onnx":
        raise CganError(
            f"{source}: export the web demo from the run folder, weights file or bundled name, not an ONNX file"
        )
    generator = load_generator(source)
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        building = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".tmp", dir=folder.parent))
    except OSError as exc:
        raise naming(exc, folder) from None
    try:
        # mkdtemp makes the folder private; a web server must read it
        os.chmod(building, 0o777 & ~current_umask())
        worst = export_onnx(generator, building / MODEL_FILE)
        for name in PAGE_FILES:
            shutil.copyfile(ASSETS / name, building / name)
        (building / "ort").mkdir()
        for name in ORT_FILES:
            shutil.copyfile(ASSETS / "ort" / name, building / "ort" / name)
        bundled = Path(generator.source).parent.parent == BUNDLED_DIR
        description = {
            "format": DEMO_FORMAT,
            "version": 1,
            "dataset": generator.dataset,
            "classes": list(generator.classes),
            "latent_dim": generator.arch.latent_dim,
            "image_shape": list(generator.arch.image_shape),
            "generate": f"cgan generate --dataset {generator.dataset}" if bundled else "cgan generate RUN",
            "onnxruntime_web": ORT_WEB_VERSION,
        }
        (building / DEMO_FILE).write_text(json.dumps(description, indent=2) + "\n")
        replace_folder(building, folder)
    except BaseException as exc:
        shutil.rmtree(building, ignore_errors=True)
        if isinstance(exc, OSError):  # name the folder asked for, not the one it was built in
            raise naming(exc, folder) from None
        raise
    size = sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())
    return WebDemo(folder, size, worst)


def check_target(folder: Path) -> None:
    """Refuse a target that is a file, or a folder with other things in it than an earlier demo."""
    if folder.exists() and not folder.is_dir():
        raise CganError(f"{folder} is a file; give a folder for the web demo")
    if folder.is_dir() and any(folder.iterdir()) and not is_web_demo(folder):
        raise CganError(
            f"{folder} is not empty and holds no earlier web demo; give a new or empty folder "
            "(an earlier demo is replaced whole)"
        )


def is_web_demo(folder: Path) -> bool:
    try:
        return json.loads((folder / DEMO_FILE).read_text()).get("format") == DEMO_FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def replace_folder(new: Path, folder: Path) -> None:
    """Rename `new` to `folder`; an existing `folder` is moved aside first and removed after."""
    if not folder.exists():
        new.rename(folder)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".old", dir=folder.parent))
    folder.rename(old / folder.name)
    try:
        new.rename(folder)
    except BaseException:
        (old / folder.name).rename(folder)
        raise
    finally:
        shutil.rmtree(old, ignore_errors=True)
