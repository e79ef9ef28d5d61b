"""The web page in a real headless Chromium (Debian's, driven by Playwright) against a real server."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest
from conftest import CHROMIUM
from live_server import running
from PIL import Image

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


@pytest.fixture
def offline(browser, server_url, offsite):
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
    yield tab
    context.close()


@pytest.fixture
def page(offline, server_url):
    """The page, ready to use."""
    offline.goto(server_url)
    offline.wait_for_selector("body[data-ready=true]")
    return offline


def shown_image(page, selector: str) -> dict:
    page.wait_for_function(f"document.querySelector('{selector}').complete")
    image = page.locator(selector)
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


def test_the_api_docs_work_offline(offline, server_url, offsite):
    offline.goto(f"{server_url}/docs")
    # Drawn by Swagger UI from /openapi.json: its scripts came from the server.
    offline.wait_for_function("document.body.innerText.includes('/interpolate')", timeout=30_000)
    text = offline.inner_text("body")
    assert all(path in text for path in ("/generate", "/gen_images", "/models", "/health")), text[:2000]
    assert offsite == []
