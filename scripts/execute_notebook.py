"""Execute notebooks/walkthrough.ipynb top to bottom and save it with its outputs (what the repository holds).

    python scripts/execute_notebook.py            # needs the notebook extra: pip install -e '.[notebook]'

The saved notebook records a digest of its code cells; tests/test_notebook.py compares it with the code
cells it holds, so a cell edited without executing the notebook again fails there.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "walkthrough.ipynb"
TIMEOUT_S = 600  # per cell


def code_digest(notebook: nbformat.NotebookNode) -> str:
    sources = [cell.source for cell in notebook.cells if cell.cell_type == "code"]
    return hashlib.sha256("\n\0\n".join(sources).encode()).hexdigest()


def execute(path: Path = NOTEBOOK) -> nbformat.NotebookNode:
    """The notebook at `path`, executed in its own folder (a CellExecutionError names the failing cell)."""
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(notebook, timeout=TIMEOUT_S, resources={"metadata": {"path": str(path.parent)}}).execute()
    notebook.metadata["cgan"] = {"code_sha256": code_digest(notebook)}
    return notebook


if __name__ == "__main__":
    executed = execute(Path(sys.argv[1]) if len(sys.argv) > 1 else NOTEBOOK)
    nbformat.write(executed, sys.argv[1] if len(sys.argv) > 1 else NOTEBOOK)
