"""`cgan export --web`: the static demo page in a real headless Chromium (Debian's, driven by Playwright),
served by a plain static HTTP server with every other request refused, against PyTorch's own images."""

from __future__ import annotations

import contextlib
import functools
import http.server
import json
import shlex
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pytest
import torch
from conftest import CHROMIUM, DOMINANT_CHANNEL, check_tint, rgb_pixels
from PIL import Image

from cgan.cli import main
from cgan.errors import CganError
from cgan.generation import load_generator
from cgan.images import make_grid
from cgan.web_demo import DEMO_FILE, export_web_demo

needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM}: apt-get install chromium (Debian's package)"
)
# PyTorch's CPU randn has one float32 kernel on x86-64 (AVX2, and AVX-512, which falls back to it); that is
# the one randn.js reproduces bit for bit. Elsewhere PyTorch's own noise differs in the last bits.
X86_KERNEL = torch.backends.cpu.get_cpu_capability() in ("AVX2", "AVX512")

# ONNX Runtime Web's float32 arithmetic differs from PyTorch's in the last bits, which can round a pixel the
# other way; the noise itself is the same. The largest difference of a pixel, and the share that may differ.
TOLERANCE, SHARE = (1 if X86_KERNEL else 2), 0.01


@contextlib.contextmanager
def static_server(folder: Path) -> Iterator[str]:
    """Python's own static file server on a free port of 127.0.0.1, serving `folder`; yields its URL."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=folder))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return export_web_demo("mnist", tmp_path_factory.mktemp("site") / "demo")


@pytest.fixture(scope="module")
def demo_url(demo):
    with static_server(demo.folder) as url:
        yield url


@pytest.fixture(scope="module")
def colour_demo_url(colour_run, tmp_path_factory):
    """The demo of the colour run of the user's own folders (conftest.py), served."""
    demo = export_web_demo(colour_run, tmp_path_factory.mktemp("site") / "colour")
    with static_server(demo.folder) as url:
        yield url


@contextlib.contextmanager
def opened(browser, demo_url: str):
    """The demo page with every request that leaves its static server refused; asserts that none was made."""
    context = browser.new_context(viewport={"width": 800, "height": 900})
    page = context.new_page()
    page.set_default_timeout(60_000)
    offsite = []

    def only_the_server(route):
        if urlparse(route.request.url).netloc == urlparse(demo_url).netloc:
            route.continue_()
        else:
            offsite.append(route.request.url)
            route.abort()

    page.route("**/*", only_the_server)
    page.goto(f"{demo_url}/")
    page.wait_for_selector("body[data-ready=true]")
    assert page.locator("#status").is_hidden()
    yield page
    context.close()
    assert offsite == []


@pytest.fixture
def page(browser, demo_url):
    with opened(browser, demo_url) as page:
        yield page


@pytest.fixture
def colour_page(browser, colour_demo_url):
    with opened(browser, colour_demo_url) as page:
        yield page


def draw(page, label: int | str, seed: int | str, count: int) -> None:
    """Draws class `label`: an index, or a class name picked as a user picks it."""
    if isinstance(label, str):
        page.select_option("#label", label=label)
        label = int(page.input_value("#label"))
    else:
        page.select_option("#label", str(label))
    page.fill("#seed", str(seed))
    page.fill("#count", str(count))
    page.click("#draw")
    page.wait_for_function(f"document.body.dataset.drawn === '{label} {seed} {count}'")


@needs_chromium
@pytest.mark.parametrize(("label", "seed", "count"), [(7, 42, 16), (3, 2_000_000_007, 10), (0, 5, 1)])
def test_the_page_draws_the_grid_cgan_generate_draws(page, label, seed, count, tmp_path):
    draw(page, label, seed, count)
    grid = rgb_pixels(page.locator("#grid"))

    grey = make_grid(
        load_generator("mnist", precision="fp32").generate([label] * count, seed=seed), int(np.ceil(count**0.5))
    )
    expected = np.repeat(grey[..., None], 3, axis=-1)  # written into R, G and B alike
    assert grid.shape == expected.shape
    difference = np.abs(grid.astype(int) - expected)
    assert difference.max() <= TOLERANCE, difference.max()
    assert (difference > 0).mean() < SHARE
    assert page.text_content("#caption") == f"mnist, class {label}, seed {seed}"
    command = (
        f"cgan generate --dataset mnist --label {label} --count {count} --seed {seed} --precision fp32 --out grid.png"
    )
    assert page.text_content("#command") == command
    page.screenshot(path=str(tmp_path / "web_demo.png"), full_page=True)


@needs_chromium
def test_a_colour_model_of_the_users_folders_draws_what_pytorch_draws(colour_page, colour_run, tmp_path):
    page = colour_page
    generator = load_generator(colour_run, precision="fp32")
    assert page.locator("#label option").all_text_contents() == list(generator.classes)
    assert list(generator.classes) == ["Green One", "red zero", "sept bleu é"]
    assert page.text_content("#title") == f"cgan: {generator.dataset}"  # the folder's name
    for class_name in generator.classes:
        draw(page, class_name, 42, 4)
        grid = rgb_pixels(page.locator("#grid"))
        expected = make_grid(generator.generate([class_name] * 4, seed=42), 2)
        assert grid.shape == expected.shape == (2 * 34 + 2, 2 * 34 + 2, 3)  # 32-pixel images, 2-pixel gaps
        difference = np.abs(grid.astype(int) - expected)
        assert difference.max() <= TOLERANCE, (class_name, difference.max())
        assert (difference > 0).mean() < SHARE
        if class_name in DOMINANT_CHANNEL:  # the colour of the class's tint, not grey
            check_tint(grid, class_name)
        assert page.text_content("#caption") == f"{generator.dataset}, class {class_name}, seed 42"
        # The command names the class as the CLI reads it, quoted for a shell, and writes the same grid.
        command = page.text_content("#command")
        label = shlex.quote(class_name)
        assert command == f"cgan generate RUN --label {label} --count 4 --seed 42 --precision fp32 --out grid.png"
        arguments = [str(colour_run) if word == "RUN" else word for word in shlex.split(command)[1:]]
        assert main([*arguments[:-1], str(tmp_path / "grid.png")]) == 0  # --out grid.png, here
        with Image.open(tmp_path / "grid.png") as written:
            cli = load_generator(colour_run, precision="fp32").generate([class_name] * 4, seed=42)
            np.testing.assert_array_equal(np.asarray(written), make_grid(cli, 2))


@needs_chromium
def test_the_browsers_noise_is_torch_randn(page, demo_url):
    seeds, sizes = [0, 1, 42, 2**31 - 1, 2**32 + 3], [1, 2, 7, 15, 16, 17, 100, 624, 1600, 1601]
    drawn = page.evaluate(
        """async ([url, seeds, sizes]) => {
            const {randn} = await import(url);
            return seeds.map(seed => sizes.map(n => Array.from(randn(seed, n))));
        }""",
        [f"{demo_url}/randn.js", seeds, sizes],
    )
    for seed, by_size in zip(seeds, drawn, strict=True):
        for n, values in zip(sizes, by_size, strict=True):
            expected = torch.randn(n, generator=torch.Generator().manual_seed(seed)).numpy()
            values = np.array(values, dtype=np.float32)
            if X86_KERNEL:
                np.testing.assert_array_equal(values, expected, err_msg=f"seed {seed}, {n} values")
            else:
                np.testing.assert_allclose(values, expected, atol=1e-5, err_msg=f"seed {seed}, {n} values")


@needs_chromium
def test_a_bad_entry_shows_a_message_and_fixing_it_draws(page):
    page.fill("#count", "65")
    page.click("#draw")
    error = page.locator("#error")
    error.wait_for(state="visible")
    assert error.text_content() == 'Count: must be a whole number 1-64, got "65"'
    draw(page, 1, 9, 4)
    assert error.is_hidden()


@needs_chromium
def test_opened_as_a_file_the_page_says_to_serve_it(browser, demo):
    page = browser.new_page()
    page.goto((demo.folder / "index.html").as_uri())
    assert "python -m http.server" in page.locator("#status").inner_text()
    assert page.locator("#status").is_visible()
    page.close()


def test_the_folder_holds_the_page_the_model_and_onnx_runtime_web(demo):
    files = {str(path.relative_to(demo.folder)) for path in demo.folder.rglob("*") if path.is_file()}
    assert files == {
        "index.html",
        "app.js",
        "randn.js",
        "style.css",
        "generator.onnx",
        DEMO_FILE,
        "ort/ort.wasm.bundle.min.js",
        "ort/ort-wasm-simd-threaded.wasm",
        "ort/LICENSE",
    }
    description = json.loads((demo.folder / DEMO_FILE).read_text())
    assert description["classes"] == [str(i) for i in range(10)]
    assert description["latent_dim"] == 100 and description["image_shape"] == [1, 28, 28]
    assert demo.worst_difference <= 1e-5
    assert 20e6 < demo.size_bytes < 24e6  # docs/web_demo.md gives the size
    page = (demo.folder / "index.html").read_text() + (demo.folder / "app.js").read_text()
    assert "http" not in page.replace("python -m http.server", "")  # nothing from elsewhere


def test_an_earlier_demo_is_replaced_whole(tmp_path, capsys):
    folder = tmp_path / "demo"
    assert main(["export", "mnist", "--web", str(folder)]) == 0
    (folder / "stale.txt").write_text("left from before")
    assert main(["export", "fashion-mnist", "--web", str(folder)]) == 0
    assert "python -m http.server -d" in capsys.readouterr().out
    assert json.loads((folder / DEMO_FILE).read_text())["dataset"] == "fashion-mnist"
    assert not (folder / "stale.txt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo"]  # no building or old folder left


def test_a_folder_with_other_things_is_refused_untouched(tmp_path, capsys):
    folder = tmp_path / "site"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    assert main(["export", "mnist", "--web", str(folder)]) == 2
    error = capsys.readouterr().err
    assert error.startswith("cgan: error: ") and "not empty" in error and error.count("\n") == 1
    assert [p.name for p in folder.iterdir()] == ["notes.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["site"]


def test_an_unknown_source_is_a_clear_error_and_writes_nothing(tmp_path):
    with pytest.raises(CganError, match="neither a run folder nor a bundled generator name"):
        export_web_demo("no-such-model", tmp_path / "demo")
    with pytest.raises(CganError, match="not an ONNX file"):
        export_web_demo(tmp_path / "g.onnx", tmp_path / "demo")
    assert list(tmp_path.iterdir()) == []


def test_a_run_folder_exports_with_its_own_shape(tiny_run, tmp_path):
    demo = export_web_demo(tiny_run, tmp_path / "demo")
    description = json.loads((demo.folder / DEMO_FILE).read_text())
    assert description["latent_dim"] == 16 and description["generate"] == "cgan generate RUN"
