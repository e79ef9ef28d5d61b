"""Shared pytest fixtures."""

from pathlib import Path

import pytest

DATASETS = ("mnist", "fashion-mnist")
# Where developer checkouts have kept the real files, beside the repository: searched last.
BESIDE_CHECKOUT = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data(tmp_path_factory) -> Path:
    """A folder with mnist/ and fashion-mnist/ (the real IDX files), found as cgan finds data:
    $CGAN_DATA_DIR, then the user cache (`cgan data download NAME`), then ../shared/data. Skips the test
    where a dataset is found nowhere."""
    from cgan.data import find_data_dir
    from cgan.errors import DataError

    folders = {}
    for name in DATASETS:
        try:
            folders[name] = find_data_dir(name)
        except DataError:
            try:
                folders[name] = find_data_dir(name, BESIDE_CHECKOUT)
            except DataError:
                pytest.skip(f"no {name} data: run `cgan data download {name}` or set CGAN_DATA_DIR")
    if len({folder.parent for folder in folders.values()}) == 1 and all(f.name == n for n, f in folders.items()):
        return folders["mnist"].parent  # e.g. $CGAN_DATA_DIR or ~/.cache/cgan
    root = tmp_path_factory.mktemp("data")  # the datasets are in different places: link them side by side
    for name, folder in folders.items():
        (root / name).symlink_to(folder)
    return root


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


@pytest.fixture
def isolated_data(tmp_path, monkeypatch):
    """Keep the developer's own cache, environment, system folders and ./data out of a data test."""
    from cgan import data

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.delenv(data.ENV_DATA_DIR, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setattr(data.files, "SYSTEM_DIRS", (tmp_path / "usr-share-datasets",))
    monkeypatch.chdir(tmp_path)


# Debian's Chromium, which the browser tests drive (Playwright's own browser download is not used).
CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium for a module's browser tests."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM))
        yield browser
        browser.close()
