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


@pytest.fixture(scope="session")
def tiny_config(shared_data):
    """Makes a TrainConfig for a tiny, fast run on 320 real MNIST images (10 steps per epoch)."""
    from cgan.training import TrainConfig

    def make(out, **overrides) -> TrainConfig:
        values = dict(
            dataset="mnist",
            data_dir=str(shared_data / "mnist"),
            out=str(out),
            max_images=320,
            batch_size=32,
            epochs=2,
            g_width=8,
            d_width=8,
            latent_dim=16,
            log_every=1,
            samples_per_class=2,
        )
        values.update(overrides)
        return TrainConfig(**values)

    return make


@pytest.fixture(scope="session")
def tiny_run(tiny_config, tmp_path_factory) -> Path:
    """A run folder trained for 20 steps: enough to generate from, in seconds."""
    from cgan.training import fit

    run = tmp_path_factory.mktemp("runs") / "tiny"
    fit(tiny_config(run), progress=False)
    return run
