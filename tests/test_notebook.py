"""notebooks/walkthrough.ipynb: it runs top to bottom on the real data, and the copy in the repository holds
the outputs of its current code, small enough to read where it is hosted."""

import importlib.util
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
pytest.importorskip("nbclient")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "walkthrough.ipynb"
MAX_BYTES = 1_500_000
PICTURES = 6  # the cells that show a picture


def executor():
    spec = importlib.util.spec_from_file_location("execute_notebook", ROOT / "scripts" / "execute_notebook.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def check_outputs(notebook) -> None:
    """Every code cell ran, in order, in one session, without an error or a warning, and the pictures show."""
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert [cell.execution_count for cell in code] == list(range(1, len(code) + 1))
    outputs = [output for cell in code for output in cell.outputs]
    assert [o for o in outputs if o.output_type == "error" or o.get("name") == "stderr"] == []
    assert not any("Traceback" in str(o) for o in outputs)
    assert sum("image/png" in o.get("data", {}) for o in outputs) == PICTURES


def test_the_committed_notebook_holds_the_outputs_of_its_code():
    assert NOTEBOOK.stat().st_size < MAX_BYTES
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    check_outputs(notebook)
    # Written by scripts/execute_notebook.py when it executed the notebook: a code cell changed since
    # then (without executing it again) changes the digest.
    assert notebook.metadata["cgan"]["code_sha256"] == executor().code_digest(notebook), (
        "the notebook's code changed since its outputs were made: run scripts/execute_notebook.py"
    )


@pytest.mark.slow
def test_the_notebook_runs_top_to_bottom_on_the_real_data(shared_data, monkeypatch):
    monkeypatch.setenv("CGAN_DATA_DIR", str(shared_data / "mnist"))
    # One torch thread in the kernel: on a machine whose cores are busy with other jobs, two threads made
    # the training cell tens of times slower, past the cell timeout, even when sleeping instead of spinning
    # while they wait (docs/speed.md, "Busy machines").
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    check_outputs(executor().execute(NOTEBOOK))
