"""Shared pytest fixtures."""

from pathlib import Path

import pytest

# The real MNIST / Fashion-MNIST files every developer machine and CI run has next to the project.
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Folder with mnist/ and fashion-mnist/ (gzipped IDX); skips the test where it is absent."""
    if not (SHARED_DATA / "mnist").is_dir() or not (SHARED_DATA / "fashion-mnist").is_dir():
        pytest.skip(f"real datasets not found at {SHARED_DATA}")
    return SHARED_DATA
