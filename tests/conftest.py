"""Shared pytest fixtures."""

from pathlib import Path

import numpy as np
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


@pytest.fixture(scope="module")
def mnist_dir(shared_data) -> str:
    return str(shared_data / "mnist")


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread for a module's tests (`pytestmark = pytest.mark.usefixtures("one_thread")`): on a
    2-core machine that also runs another job, the evaluations were 2-10x slower with two."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


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


# A user's own colour images: real MNIST digits of three classes, tinted and enlarged, in folders named as
# people name things (a space, capitals, a letter beyond ASCII).
COLOUR_CLASSES = {0: "red zero", 1: "Green One", 7: "sept bleu é"}
TINTS = {0: (1.0, 0.2, 0.2), 1: (0.2, 1.0, 0.2), 7: (0.3, 0.3, 1.0)}
# The channel that dominates what colour_run draws of a class after its 100 steps: reliably for these two (by
# 10 to 37 levels over the lit pixels in runs with six training seeds); its green is still faint.
DOMINANT_CHANNEL = {"red zero": 0, "sept bleu é": 2}


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """One user cache for the module (decoded folders, evaluators), not the developer's."""
    with pytest.MonkeyPatch.context() as patch:
        root = tmp_path_factory.mktemp("xdg-cache")
        patch.setenv("XDG_CACHE_HOME", str(root))
        yield root


@pytest.fixture(scope="module")
def photos(shared_data, tmp_path_factory, cache) -> str:
    """A folder of 80 colour PNGs (40x40) per class of COLOUR_CLASSES, one sub-folder per class."""
    from PIL import Image

    from cgan import data

    images, labels = data.load("mnist", "train", shared_data / "mnist")
    images, labels = images.numpy(), labels.numpy()
    root = tmp_path_factory.mktemp("photos")
    for digit, name in COLOUR_CLASSES.items():
        (root / name).mkdir()
        for i in np.flatnonzero(labels == digit)[:80]:
            rgb = (images[i][..., None] * np.array(TINTS[digit])).astype(np.uint8)
            Image.fromarray(rgb).resize((40, 40)).save(root / name / f"{i}.png")
    return str(root)


@pytest.fixture(scope="module")
def colour_run(photos, tmp_path_factory, cache) -> Path:
    """A run folder, named as a user might ("colour фото"), of a 3x32x32 generator of `photos`, trained once
    per module: 100 steps on one thread, about 3 s. Fewer steps draw grey-brown mush whatever the class; an
    auxiliary classifier in D (acgan) learns the tints soonest."""
    from cgan.training import TrainConfig, fit

    out = tmp_path_factory.mktemp("runs") / "colour фото"
    config = TrainConfig(
        data=photos, image_size=32, out=str(out), batch_size=32, epochs=100, max_steps=100, lr=0.002,
        cond_d="acgan", g_width=8, d_width=8, latent_dim=16, log_every=10, samples_per_class=2, threads=1,
    )  # fmt: skip
    fit(config, progress=False)
    return out


def check_tint(pixels: np.ndarray, class_name: str) -> None:
    """Asserts that uint8 images (..., 3) of a class of DOMINANT_CHANNEL are drawn in its tint: over their lit
    pixels (any channel over 60; not the black background and padding), its channel leads the other two by
    more than 8 levels."""
    flat = pixels.reshape(-1, 3).astype(float)
    colour = flat[flat.max(axis=1) > 60].mean(axis=0)
    dominant = DOMINANT_CHANNEL[class_name]
    assert colour[dominant] > np.delete(colour, dominant).max() + 8, (class_name, colour)


# Every pixel of an <img> (drawn onto a canvas) or of a <canvas>, as RGBA bytes row by row.
RGBA_PIXELS = """element => {
    let canvas = element;
    if (element instanceof HTMLImageElement) {
        canvas = document.createElement("canvas");
        canvas.width = element.naturalWidth;
        canvas.height = element.naturalHeight;
        canvas.getContext("2d").drawImage(element, 0, 0);
    }
    const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
    return {width: canvas.width, height: canvas.height, rgba: Array.from(data)};
}"""


def rgb_pixels(locator) -> np.ndarray:
    """What a page shows in an <img> or <canvas> (a Playwright locator): uint8 (height, width, 3). Asserts it is
    opaque, so that the colours read are those on the screen."""
    shown = locator.evaluate(RGBA_PIXELS)
    rgba = np.array(shown["rgba"], dtype=np.uint8).reshape(shown["height"], shown["width"], 4)
    assert (rgba[..., 3] == 255).all()
    return rgba[..., :3]


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
