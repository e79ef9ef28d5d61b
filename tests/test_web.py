"""The web page in a real headless Chromium (Debian's, driven by Playwright) against a real server."""

from __future__ import annotations

import contextlib
from pathlib import Path
from urllib.parse import urlparse

import httpx
import numpy as np
import pytest
from conftest import CHROMIUM, DOMINANT_CHANNEL, check_tint, rgb_pixels
from live_server import running
from PIL import Image

from cgan.generation import load_generator
from cgan.images import make_grid
from cgan.serve import create_app

PHONE = {"width": 390, "height": 844}

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM}: apt-get install chromium (Debian's package)"
)

# The grey levels of the shown image, read back through a canvas: how many pixels, their mean and spread.
PIXEL_STATS = """img => {
    const canvas = document.createElement("canvas");
    canvas.width = img.naturalWidth;
    canvas.height = img.naturalHeight;
    const context = canvas.getContext("2d");
    context.drawImage(img, 0, 0);
    const data = context.getImageData(0, 0, canvas.width, canvas.height).data;
    let sum = 0, squares = 0;
    for (let i = 0; i < data.length; i += 4) { sum += data[i]; squares += data[i] * data[i]; }
    const n = data.length / 4, mean = sum / n;
    return {n, mean, std: Math.sqrt(squares / n - mean * mean)};
}"""


@pytest.fixture(scope="module")
def server_url():
    with running(create_app()) as url:
        yield url


@pytest.fixture
def offsite() -> list[str]:
    """URLs the page asked for anywhere but the server: it must work offline, so none."""
    return []


@contextlib.contextmanager
def phone_tab(browser, server_url: str, offsite: list[str]):
    """A tab on a phone-sized screen, with every request that leaves the server refused and recorded."""
    context = browser.new_context(viewport=PHONE, accept_downloads=True)
    tab = context.new_page()
    server = urlparse(server_url).netloc

    def only_the_server(route):
        if urlparse(route.request.url).netloc == server:
            route.continue_()
        else:
            offsite.append(route.request.url)
            route.abort()

    tab.route("**/*", only_the_server)
    try:
        yield tab
    finally:
        context.close()


def ready(tab, server_url: str):
    """The page, ready to use."""
    tab.goto(server_url)
    tab.wait_for_selector("body[data-ready=true]")
    return tab


@pytest.fixture
def offline(browser, server_url, offsite):
    with phone_tab(browser, server_url, offsite) as tab:
        yield tab


@pytest.fixture
def page(offline, server_url):
    return ready(offline, server_url)


@pytest.fixture(scope="module")
def colour_url(colour_run):
    """The server of the colour run of the user's own folders (conftest.py), alone."""
    with running(create_app([str(colour_run)])) as url:
        yield url


@pytest.fixture
def colour_page(browser, colour_url, offsite):
    with phone_tab(browser, colour_url, offsite) as tab:
        yield ready(tab, colour_url)


# The page's Content-Security-Policy forbids eval, so the page is waited on with functions, never with
# expressions in strings (which Playwright evaluates with eval once it has to poll).
def shown(page, selector: str):
    """The <img> of `selector` once its current picture is loaded and decoded."""
    image = page.locator(selector)
    image.evaluate("img => img.decode()")
    return image


def wait_for_text(page, selector: str, text: str) -> None:
    page.wait_for_function("([s, t]) => document.querySelector(s).textContent === t", arg=[selector, text])


def shown_image(page, selector: str) -> dict:
    image = shown(page, selector)
    size = image.evaluate("img => [img.naturalWidth, img.naturalHeight]")
    return {"size": tuple(size), **image.evaluate(PIXEL_STATS)}


def test_generate_shows_the_grid_and_downloads_it(page, server_url, offsite):
    page.select_option("#model", "fashion-mnist")
    page.select_option("#label", "7")  # sneaker
    page.fill("#count", "9")
    page.fill("#scale", "3")
    page.fill("#seed", "42")
    page.click("#generate")
    page.wait_for_selector("#result:not([hidden])")
    shown = shown_image(page, "#grid")
    assert shown["size"] == (
        (3 * 30 + 2) * 3,
        (3 * 30 + 2) * 3,
    )  # a 3x3 grid of 28-pixel images, 2-pixel gaps
    assert shown["std"] > 20 and 5 < shown["mean"] < 250, shown  # an image, not a flat colour
    assert page.text_content("#grid-caption") == "fashion-mnist, class sneaker, seed 42"

    with page.expect_download() as download:
        page.click("#download")
    assert download.value.suggested_filename == "fashion-mnist-sneaker-seed42.png"
    body = {"model": "fashion-mnist", "label": 7, "count": 9, "scale": 3, "seed": 42}
    assert Path(download.value.path()).read_bytes() == httpx.post(f"{server_url}/generate", json=body).content
    assert offsite == []


def test_the_page_asks_for_nothing_the_server_lacks(offline, server_url):
    """Every request of the page succeeds, and it brings its own icon, which a desktop browser would otherwise
    ask the server for as /favicon.ico (a 404; headless Chromium does not ask)."""
    missing = []
    offline.on("response", lambda response: missing.append(response.url) if response.status >= 400 else None)
    ready(offline, server_url)
    offline.wait_for_load_state("networkidle")
    assert missing == []
    icon = offline.locator("link[rel=icon]").get_attribute("href")
    assert icon.startswith("data:image/png;base64,")
    size = offline.evaluate(
        "async href => { const img = new Image(); img.src = href; await img.decode(); return img.naturalWidth; }",
        icon,
    )
    assert size > 0


def test_random_seed_fills_the_seed_and_the_caption_shows_it(page):
    page.click("#random-seed")
    seed = page.input_value("#seed")
    assert seed.isdigit()
    page.click("#generate")
    page.wait_for_selector("#result:not([hidden])")
    assert page.text_content("#grid-caption").endswith(f"seed {seed}")


def test_an_invalid_entry_shows_the_servers_message(page):
    page.fill("#count", "999")
    page.click("#generate")
    error = page.locator("#generate-error")
    error.wait_for(state="visible")
    assert error.text_content() == "Count: must be 1-256, got 999"
    assert page.locator("#result").is_hidden()
    page.fill("#count", "4")  # fixing it clears the message
    page.click("#generate")
    page.wait_for_selector("#result:not([hidden])")
    assert error.is_hidden()


def test_interpolation_plays_and_the_page_fits_a_phone(page, offsite, tmp_path):
    page.select_option("#model", "mnist")
    page.select_option("#label", "7")
    page.fill("#seed", "7")
    page.click("#generate")
    page.select_option("#start", "3")
    page.select_option("#end", "8")
    page.click("#play")
    page.wait_for_selector("#animation:not([hidden])")
    shown = shown_image(page, "#gif")
    assert shown["size"] == ((4 * 30 + 2) * 3, 32 * 3)  # four images side by side, enlarged 3 times
    assert shown["std"] > 20, shown
    assert page.text_content("#gif-caption") == "3 to 8, seed 7"
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]  # no sideways scrolling
    page.wait_for_timeout(800)  # let the GIF move on to a blend of the two classes
    # A screenshot proves the page renders whole; docs/web_page.png is one taken this way by hand.
    screenshot = tmp_path / "web_page.png"
    page.screenshot(path=str(screenshot), full_page=True)
    assert Image.open(screenshot).size[0] == PHONE["width"]
    assert offsite == []


def test_a_colour_model_of_the_users_folders_draws_each_class_in_colour(colour_page, colour_run, offsite):
    page, name = colour_page, colour_run.name  # "colour фото", the run folder's name
    generator = load_generator(colour_run)
    assert page.locator("#model option").all_text_contents() == [f"{name} ({generator.dataset})"]
    listed = [f"{i}: {class_name}" for i, class_name in enumerate(generator.classes)]
    assert listed == ["0: Green One", "1: red zero", "2: sept bleu é"]
    for select in ("#label", "#start"):
        assert page.locator(f"{select} option").all_text_contents() == listed
    page.fill("#count", "4")
    page.fill("#scale", "2")
    page.fill("#seed", "5")
    for index, class_name in enumerate(generator.classes):
        page.select_option("#label", label=f"{index}: {class_name}")  # picked by its name, as a user does
        page.click("#generate")
        wait_for_text(page, "#grid-caption", f"{name}, class {class_name}, seed 5")
        picture = rgb_pixels(shown(page, "#grid"))
        # A 2x2 grid of 32-pixel images with 2-pixel gaps, enlarged twice: the library's, pixel for pixel.
        expected = make_grid(generator.generate([class_name] * 4, seed=5), 2)
        expected = expected.repeat(2, axis=0).repeat(2, axis=1)
        assert picture.shape == expected.shape == ((2 * 34 + 2) * 2, (2 * 34 + 2) * 2, 3)
        np.testing.assert_array_equal(picture, expected, err_msg=class_name)
        if class_name in DOMINANT_CHANNEL:  # the colour of the class's tint, not grey
            check_tint(picture, class_name)
        with page.expect_download() as download:
            page.click("#download")
        assert download.value.suggested_filename == f"{name}-{class_name}-seed5.png"
    assert offsite == []


def test_a_colour_interpolation_plays_in_colour(colour_page, offsite):
    page = colour_page
    page.select_option("#start", label="1: red zero")
    page.select_option("#end", label="2: sept bleu é")
    page.fill("#steps", "4")
    page.fill("#seed", "7")
    page.click("#play")
    page.wait_for_selector("#animation:not([hidden])")
    assert page.text_content("#gif-caption") == "red zero to sept bleu é, seed 7"
    frame = rgb_pixels(shown(page, "#gif"))  # the frame on screen
    assert frame.shape == (36 * 3, (4 * 34 + 2) * 3, 3)  # four 32-pixel images side by side, enlarged 3 times
    lit = frame[frame.max(axis=-1) > 60].astype(int)
    assert np.ptp(lit, axis=-1).mean() > 20, lit.mean(axis=0)  # R, G and B apart: a colour GIF, not grey

    page.select_option("#end", label="same class (style only)")
    page.click("#play")
    wait_for_text(page, "#gif-caption", "red zero in other styles, seed 7")
    # The start class picked as the end too is the same walk (the API refuses end == start).
    page.select_option("#end", label="1: red zero")
    page.fill("#seed", "8")
    page.click("#play")
    wait_for_text(page, "#gif-caption", "red zero in other styles, seed 8")
    assert offsite == []


def test_the_api_docs_work_offline(offline, server_url, offsite):
    offline.goto(f"{server_url}/docs")
    # Drawn by Swagger UI from /openapi.json: its scripts came from the server.
    offline.wait_for_function("document.body.innerText.includes('/interpolate')", timeout=30_000)
    text = offline.inner_text("body")
    assert all(path in text for path in ("/generate", "/gen_images", "/models", "/health")), text[:2000]
    assert offsite == []
