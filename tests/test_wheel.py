"""The wheel a user installs: built from the source, installed into a clean venv, and run from there."""

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
# Without a developer's PYTHONPATH to src/, where pip and Python would find the checkout's cgan instead.
CLEAN = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


def build_wheel(tmp_path: Path) -> Path:
    """`pip wheel` on a copy of the source tree, so the checkout gets no build/ or egg-info."""
    source = tmp_path / "source"
    shutil.copytree(ROOT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    dist = tmp_path / "dist"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    subprocess.run([*pip, "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", dist, source], check=True, env=CLEAN)
    (wheel,) = dist.glob("cgan-*.whl")
    return wheel


def test_the_wheel_installs_in_a_clean_venv_and_generates(tmp_path):
    wheel = build_wheel(tmp_path)
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        metadata = next(archive.read(n).decode() for n in names if n.endswith(".dist-info/METADATA"))
    assert "cgan/py.typed" in names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert "License-Expression: MIT" in metadata
    assert {"cgan/pretrained/mnist/generator.safetensors", "cgan/evaluators/mnist.safetensors"} <= names
    assert "cgan/web/index.html" in names and "cgan/web_demo/index.html" in names

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True)
    python = venv / "bin" / "python"
    purelib = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    site = Path(subprocess.check_output([python, "-c", purelib], text=True).strip())
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--python", python]
    subprocess.run([*pip, "install", "-q", "--no-deps", "--no-index", wheel], check=True, env=CLEAN)
    # The dependencies (torch is a large download) come from this interpreter's site-packages, added as a plain
    # path once the wheel is in: its .pth files, among them an editable install of cgan, are not processed.
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    where = subprocess.check_output(
        [python, "-c", "import cgan; print(cgan.__file__)"], text=True, cwd=tmp_path, env=CLEAN
    )
    assert Path(where.strip()).is_relative_to(venv)
    subprocess.run(
        [venv / "bin" / "cgan", "generate", "--dataset", "mnist", "--label", "7", "--count", "4", "--out", "x.png"],
        check=True,
        cwd=tmp_path,
        env=CLEAN,
    )
    image = np.asarray(Image.open(tmp_path / "x.png"))
    assert image.ndim >= 2 and image.std() > 0
