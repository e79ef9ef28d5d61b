"""What one request may ask for and what every answer carries: the server's caps and headers."""

from __future__ import annotations

from pathlib import Path

DEFAULT_SOURCES = ("mnist", "fashion-mnist")
WEB_DIR = Path(__file__).parents[1] / "web"

MAX_COUNT = 256
MAX_GRID_SIZE = 16
MAX_SCALE = 8
MAX_STEPS = 64
MAX_FRAME_MS = 2000
# Pixels one request may ask for, all images and frames together: what bounds its CPU time and answer size.
MAX_PIXELS = 2048 * 2048
MAX_SEED = 2**53 - 1  # the largest integer a browser's JavaScript holds exactly
MAX_NAME_CHARS = 64
MAX_BODY_BYTES = 16 * 1024
TOO_LARGE = f"the request body is over {MAX_BODY_BYTES} bytes"
WORKERS = 2  # threads that encode images, and draw large requests
# A request for more images than this is drawn on its own: the cost of an image in a forward pass stops
# falling at about this many.
BATCH_UP_TO = 16
MAX_WAITING = 64  # requests waiting for a worker; one more is answered 503 at once


# Host headers answered by default: a page elsewhere that points its own name at 127.0.0.1 (DNS rebinding)
# sends its own name, and is refused.
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")
# The page may load nothing from elsewhere: it has to work offline, and this makes a stray CDN link fail.
PAGE_POLICY = (
    "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'"
)
# On every answer: no content sniffing, no framing (clickjacking), no URLs leaked to other sites.
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
]
FRAME_POLICY = (b"content-security-policy", b"frame-ancestors 'none'")
