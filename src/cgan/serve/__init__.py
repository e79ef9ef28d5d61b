"""The REST service and its web page: a FastAPI app that draws images with generators loaded at start-up.
app.py holds the routes; schemas.py the request and answer models; pool.py generation off the event loop;
guard.py hosts, the body cap and headers; limits.py the caps.

    app = create_app(["runs/mnist", "fashion-mnist"])    # None: both bundled generators
    uvicorn.run(app, host="127.0.0.1", port=8000)

Every input is checked before any work is done (422, with the allowed range in the message), a request may
ask for at most MAX_PIXELS pixels, a body over MAX_BODY_BYTES is refused (413), and generation runs off the
event loop behind a bounded queue (small requests drawn together in one forward pass), so a flood of
requests costs neither memory nor a growing wait: beyond the queue the answer is 503, before the body is
parsed. Every answer carries SECURITY_HEADERS; a Host header outside `allowed_hosts` gets 400.
"""

from .app import create_app
from .limits import LOOPBACK_HOSTS, MAX_BODY_BYTES, MAX_PIXELS, MAX_SEED, WORKERS
from .pool import GenerationPool

__all__ = ["LOOPBACK_HOSTS", "MAX_BODY_BYTES", "MAX_PIXELS", "MAX_SEED", "WORKERS", "GenerationPool", "create_app"]
