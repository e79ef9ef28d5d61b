"""The REST service and its web page: a FastAPI app that draws images with generators loaded at start-up.

    app = create_app(["runs/mnist", "fashion-mnist"])    # None: both bundled generators
    uvicorn.run(app, host="127.0.0.1", port=8000)

Every input is checked before any work is done (422, with the allowed range in the message), a request may
ask for at most MAX_PIXELS pixels, a body over MAX_BODY_BYTES is refused (413), and generation runs off the
event loop behind a bounded queue (small requests drawn together in one forward pass), so a flood of
requests costs neither memory nor a growing wait: beyond the queue the answer is 503, before the body is
parsed. Every answer carries SECURITY_HEADERS; a Host header outside `allowed_hosts` gets 400.
"""

import asyncio
import base64
import math
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import numpy as np
import torch
from fastapi import FastAPI, HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    WrapValidator,
    field_validator,
)
from pydantic_core import PydanticCustomError

from .errors import CganError
from .sampling import (
    GENERATE_BATCH,
    TrainedGenerator,
    class_interpolation,
    gif_bytes,
    load_generator,
    make_grid,
    noise,
    noise_interpolation,
    png_bytes,
    random_seed,
)

DEFAULT_SOURCES = ("mnist", "fashion-mnist")
WEB_DIR = Path(__file__).parent / "web"
MODEL_CARD_FILE = "MODEL_CARD.md"

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

T = TypeVar("T")

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


def bounded(low: int, high: int, what: str) -> Any:
    """An int field in low..high whose error states the whole allowed range, not only the bound it broke."""

    def check(value, handler):
        try:
            return handler(value)
        except ValidationError as exc:
            if any(e["type"] in ("greater_than_equal", "less_than_equal") for e in exc.errors()):
                raise PydanticCustomError(
                    "out_of_range",
                    "must be {low}-{high}, got {value}",
                    {"low": low, "high": high, "value": value},
                ) from None
            raise

    return Annotated[int, Field(ge=low, le=high, description=f"{what}, {low}-{high}"), WrapValidator(check)]


def label_type(value, handler):
    """One error for a label of the wrong type, instead of one per member of the union."""
    try:
        return handler(value)
    except ValidationError:
        raise PydanticCustomError(
            "label",
            "must be a class index or a class name of 1-{chars} characters",
            {"chars": MAX_NAME_CHARS},
        ) from None


Label = Annotated[
    StrictInt | Annotated[StrictStr, Field(min_length=1, max_length=MAX_NAME_CHARS)],
    WrapValidator(label_type),
]
Seed = bounded(0, MAX_SEED, "random seed, the same seed gives the same bytes (default: a fresh one)")
Scale = bounded(1, MAX_SCALE, "enlarge each pixel this many times")


class Body(BaseModel):
    # A misspelt field is an error, not silently ignored; "5", 5.0 and true are not the integer 5.
    model_config = ConfigDict(extra="forbid", strict=True)


def request_models(models: dict[str, TrainedGenerator]) -> tuple[type[Body], type[Body], type[Body]]:
    """The request bodies, their schema naming this server's models and classes. Class names are matched
    ignoring case and punctuation, so the server also takes spellings the schema does not list."""
    names = list(models)
    classes = list(dict.fromkeys(name for generator in models.values() for name in generator.classes))
    most = max(len(generator.classes) for generator in models.values())
    listed = "; ".join(f"{name}: {', '.join(generator.classes)}" for name, generator in models.items())
    model_schema = {
        "type": "string",
        "enum": names,
        "description": f"a served model (default: {names[0]}); GET /models describes them",
    }
    label_schema = {
        "anyOf": [
            {"type": "integer", "minimum": 0, "maximum": most - 1},
            {"type": "string", "enum": classes},
        ],
        "description": f"a class of the model, by index or by name ({listed})",
    }
    ModelName = Annotated[StrictStr, WithJsonSchema(model_schema)]
    ServedLabel = Annotated[Label, WithJsonSchema(label_schema)]

    class GenImagesRequest(Body):
        """The body earlier CGAN demos published: one image of class `value`, or a grid_size x grid_size
        grid."""

        value: ServedLabel
        grid: bool = False
        grid_size: Annotated[
            bounded(0, MAX_GRID_SIZE, "images per side of the grid when grid is true"),
            Field(validate_default=True),  # grid true without a grid_size is an error too
        ] = 0
        model: ModelName | None = None
        seed: Seed | None = None

        @field_validator("grid_size")
        @classmethod
        def grid_needs_a_size(cls, grid_size: int, info: ValidationInfo) -> int:
            if info.data.get("grid") and grid_size < 1:
                raise PydanticCustomError(
                    "grid_size", "must be 1-{high} when grid is true", {"high": MAX_GRID_SIZE}
                )
            return grid_size

    class GenerateRequest(Body):
        """`count` images of one class, as one PNG grid or as JSON with one base64 PNG per image."""

        model: ModelName | None = None
        label: ServedLabel
        count: bounded(1, MAX_COUNT, "number of images") = 16
        seed: Seed | None = None
        format: Literal["png", "json"] = "png"
        scale: Scale = 1

    class InterpolateRequest(Body):
        """Frames that blend class `start` into class `end` with the noise fixed, or, without `end`, that
        move the noise of one class along a great circle (the style changes, the class stays)."""

        model: ModelName | None = None
        start: ServedLabel
        end: ServedLabel | None = None
        steps: bounded(2, MAX_STEPS, "frames from start to end, both included") = 16
        count: bounded(1, MAX_GRID_SIZE, "images side by side in each frame") = 1
        seed: Seed | None = None
        format: Literal["gif", "json"] = "gif"
        scale: Scale = 1
        frame_ms: bounded(20, MAX_FRAME_MS, "milliseconds per GIF frame") = 80
        bounce: bool = Field(True, description="GIF plays forward then back, so the loop never jumps")

    return GenImagesRequest, GenerateRequest, InterpolateRequest


# --- what the server answers ----------------------------------------------------------------------


class Problem(BaseModel):
    """Why a request was refused (400, 413, 503)."""

    detail: str


class FieldError(BaseModel):
    loc: list[str | int] = Field(description='where: ["body", field], or ["body"] for the whole request')
    msg: str = Field(description="what is wrong, and what is allowed")
    type: str
    input: Any = Field(None, description="what was sent (NaN and Infinity as strings)")
    ctx: dict[str, Any] | None = None


class Invalid(BaseModel):
    """Why a request was refused (422), FastAPI's shape."""

    detail: list[FieldError]


class GeneratedImages(BaseModel):
    model: str
    label: int = Field(description="the class index")
    class_name: str
    seed: int
    images: list[str] = Field(description="one base64 PNG per image")


class Interpolation(BaseModel):
    model: str
    start: int = Field(description="the class index of the first frame")
    end: int | None = Field(description="the class index of the last frame; null: within class start")
    seed: int
    frame_ms: int
    frames: list[str] = Field(description="one base64 PNG per frame")


class ModelCard(BaseModel):
    title: str
    summary: str = Field(description="how the model was trained: the card's opening section")


class ModelInfo(BaseModel):
    name: str
    dataset: str
    classes: list[str] = Field(description="class names; a class's index is its position here")
    image_shape: list[int] = Field(description="channels, height, width")
    latent_dim: int
    step: int | None = Field(description="training steps behind the weights")
    card: ModelCard | None


class Health(BaseModel):
    status: Literal["ok"]
    models: list[str]
    requests_in_hand: int = Field(description="requests generating or waiting for a worker")


class Busy(HTTPException):
    def __init__(self, in_hand: int):
        super().__init__(503, f"server busy: {in_hand} requests in hand; retry shortly", {"Retry-After": "1"})


@dataclass
class Draw:
    """One request's images to draw, and what to make of them."""

    generator: TrainedGenerator
    labels: list[int]
    seed: int
    finish: Callable[[np.ndarray], Any]
    done: Future = field(default_factory=Future)


class GenerationPool:
    """Holds at most `workers + max_waiting` requests at once; one more is refused with 503 at once, so a
    flood neither grows memory nor the wait.

    draw(): images for labels and a seed. A request for a few images is drawn in one thread that puts the
    images of every such request waiting for it (up to GENERATE_BATCH) through the network together: one
    forward pass of many images costs a fraction of many passes of one. What a request makes of its images
    (PNG, grid, base64) runs in `workers` threads, and so does a request for many images, and run(): any
    other work."""

    def __init__(self, workers: int = WORKERS, max_waiting: int = MAX_WAITING):
        self.executor = ThreadPoolExecutor(workers, thread_name_prefix="cgan-generate")
        self.capacity = workers + max_waiting
        self.admitted = 0
        self.lock = threading.Lock()
        self.draws: queue.SimpleQueue[Draw | None] = queue.SimpleQueue()
        self.drawer = threading.Thread(target=self._draw_batches, name="cgan-draw", daemon=True)
        self.drawer.start()

    def full(self) -> bool:
        return self.admitted >= self.capacity

    def _admit(self) -> None:
        with self.lock:
            if self.admitted >= self.capacity:
                raise Busy(self.admitted)
            self.admitted += 1

    async def _outcome(self, future: Future) -> Any:
        # Released when the work ends, not when the awaiting task is cancelled: cancelling drops work that
        # has not started, but work already running holds its place until it finishes.
        future.add_done_callback(self._release)
        try:
            return await asyncio.wrap_future(future)
        except CganError as exc:  # a request the model cannot do, e.g. blending classes in an ONNX export
            raise invalid(str(exc)) from None

    async def run(self, work: Callable[[], T]) -> T:
        self._admit()
        return await self._outcome(self.executor.submit(work))

    async def draw(
        self, generator: TrainedGenerator, labels: list[int], seed: int, finish: Callable[[np.ndarray], T]
    ) -> T:
        """finish(images), images as generator.generate(labels, seed) draws them."""
        if len(labels) > BATCH_UP_TO:
            return await self.run(lambda: finish(generator.generate(labels, seed)))
        self._admit()
        job = Draw(generator, labels, seed, finish)
        self.draws.put(job)
        return await self._outcome(job.done)

    def close(self) -> None:
        self.draws.put(None)
        self.executor.shutdown(wait=False, cancel_futures=True)

    def _release(self, _: Future) -> None:
        with self.lock:
            self.admitted -= 1

    def _draw_batches(self) -> None:
        while (job := self.draws.get()) is not None:
            batch, images = [job], len(job.labels)
            while images < GENERATE_BATCH and not self.draws.empty():
                if (job := self.draws.get()) is None:
                    self.draws.put(None)  # close() was called: stop after this batch
                    break
                batch.append(job)
                images += len(job.labels)
            for generator in {id(job.generator): job.generator for job in batch}.values():
                self._draw([job for job in batch if job.generator is generator])

    def _draw(self, jobs: list[Draw]) -> None:
        """The images of `jobs` (all of one generator) in one pass; each job's noise drawn from its own
        seed, as generate() draws it, so the images are the same as if drawn alone."""
        jobs = [job for job in jobs if job.done.set_running_or_notify_cancel()]
        if not jobs:
            return
        generator = jobs[0].generator
        try:
            z = torch.cat([noise(job.seed, len(job.labels), generator.arch.latent_dim) for job in jobs])
            labels = torch.tensor([label for job in jobs for label in job.labels], dtype=torch.long)
            images = generator.render(z, labels)
        except Exception as exc:
            for job in jobs:
                job.done.set_exception(exc)
            return
        start = 0
        for job in jobs:
            mine, start = images[start : start + len(job.labels)], start + len(job.labels)
            self.executor.submit(self._finish, job, mine)

    @staticmethod
    def _finish(job: Draw, images: np.ndarray) -> None:
        try:
            job.done.set_result(job.finish(images))
        except Exception as exc:
            job.done.set_exception(exc)


def host_name(host_header: str) -> str:
    """The name in a Host header, without its port: "[::1]:8000" -> "[::1]"."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host.partition("]")[0] + "]"
    return host.rpartition(":")[0] if ":" in host else host


class Guard:
    """ASGI middleware in front of the whole app: refuses a foreign Host header (400), a body over
    MAX_BODY_BYTES (413) and, while the pool is full, any POST (503) before any other work, and puts
    SECURITY_HEADERS on every answer."""

    def __init__(self, app, allowed_hosts: Sequence[str], pool: GenerationPool):
        self.app = app
        self.pool = pool
        self.any_host = "*" in allowed_hosts
        self.allowed = {host.lower() for host in allowed_hosts}
        self.hint = ", ".join(allowed_hosts)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def secured(message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += SECURITY_HEADERS
                if not any(name.lower() == FRAME_POLICY[0] for name, _ in headers):
                    headers.append(FRAME_POLICY)
                message["headers"] = headers
            await send(message)

        headers = dict(scope["headers"])
        if not self.any_host:
            host = host_name(headers.get(b"host", b"").decode("latin-1"))
            if host not in self.allowed:
                message = (
                    f"this server answers to the host names {self.hint}, not {host!r} "
                    "(cgan serve --allowed-hosts adds names)"
                )
                return await JSONResponse({"detail": message}, 400)(scope, receive, secured)
        try:
            declared = int(headers.get(b"content-length", b"0"))
        except ValueError:
            declared = 0  # uvicorn itself refuses a malformed length
        if declared > MAX_BODY_BYTES:
            return await JSONResponse({"detail": TOO_LARGE}, 413)(scope, receive, secured)
        if scope["method"] == "POST" and self.pool.full():
            # Refused before its body is parsed or validated: under a flood a refusal has to be cheap.
            # The body is read (up to the cap) so that the connection can carry the next request.
            received, more = 0, True
            while more and received <= MAX_BODY_BYTES:
                message = await receive()
                received += len(message.get("body", b""))
                more = message.get("more_body", False)
            busy = Busy(self.pool.admitted)
            return await JSONResponse({"detail": busy.detail}, 503, busy.headers)(scope, receive, secured)
        received = 0

        async def counted():  # a chunked body has no length to check up front
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > MAX_BODY_BYTES:
                raise HTTPException(413, TOO_LARGE)
            return message

        await self.app(scope, counted, secured)


def invalid(message: str, field: str | None = None, value: Any = None) -> RequestValidationError:
    """A 422 in FastAPI's own shape, for what only a loaded model can check (model names, class labels,
    output size): about one field, or the whole body."""
    loc = ("body",) if field is None else ("body", field)
    return RequestValidationError([{"type": "value_error", "loc": loc, "msg": message, "input": value}])


def json_safe(value: Any) -> Any:
    """`value` with NaN and Infinity (which Python's JSON parser accepts) spelt as strings, so that an error
    message can echo them back: JSON itself has no such numbers."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    return value


async def validation_failed(_: Request, exc: RequestValidationError) -> JSONResponse:
    """FastAPI's 422, encodable whatever the input was."""
    return JSONResponse({"detail": json_safe(jsonable_encoder(exc.errors()))}, status_code=422)


def model_name(source: str, generator: TrainedGenerator) -> str:
    path = Path(source)
    if not path.exists():
        return generator.dataset  # a bundled generator: "mnist", "fashion-mnist"
    return path.name if path.is_dir() else path.stem


def describe(name: str, generator: TrainedGenerator) -> ModelInfo:
    """What GET /models says about one model."""
    return ModelInfo(
        name=name,
        dataset=generator.dataset,
        classes=list(generator.classes),
        image_shape=list(generator.arch.image_shape),
        latent_dim=generator.arch.latent_dim,
        step=generator.meta.get("step"),
        card=card_summary(generator),
    )


def card_summary(generator: TrainedGenerator) -> ModelCard | None:
    """The title and opening section of the model's MODEL_CARD.md (how it was trained), if it has one."""
    card = Path(generator.source).parent / MODEL_CARD_FILE
    if not card.is_file():
        return None
    title, _, rest = card.read_text().partition("\n")
    return ModelCard(title=title.lstrip("# ").strip(), summary=rest.split("\n## ")[0].strip())


def load_models(sources: list[str] | None) -> dict[str, TrainedGenerator]:
    """Every generator loaded and run once, so a broken model stops start-up instead of failing a request."""
    models: dict[str, TrainedGenerator] = {}
    for source in sources or DEFAULT_SOURCES:
        try:
            generator = load_generator(source)
            generator.generate([0], seed=0)
        except CganError as exc:
            raise CganError(f"cannot serve {source}: {exc}") from None
        name = model_name(source, generator)
        if name in models:
            raise CganError(f"two models would be called {name!r}; serve folders with different names")
        models[name] = generator
    return models


def grid_png(images: np.ndarray, scale: int) -> bytes:
    """A square-ish grid, as `cgan generate` draws one class."""
    return png_bytes(make_grid(images, math.ceil(math.sqrt(len(images)))), scale)


def encoded_pngs(images: np.ndarray, scale: int) -> list[str]:
    return [base64.b64encode(png_bytes(image, scale)).decode("ascii") for image in images]


def interpolation_frames(
    generator: TrainedGenerator, start: int, end: int | None, steps: int, count: int, seed: int
) -> list[np.ndarray]:
    """One image per step, the `count` images of a step side by side."""
    if end is None:
        frames = noise_interpolation(generator, start, steps, count, seed)
    else:
        frames = class_interpolation(generator, [start, end], steps, count, seed)
    return [make_grid(frame, count) for frame in frames]


REFUSED_HOST = {400: {"model": Problem, "description": "the Host header names a host not served here"}}


B = TypeVar("B", bound=BaseModel)


async def parsed(request: Request, model: type[B]) -> B:
    """The request's body as `model`, parsed and checked in one pass by pydantic: FastAPI's own handling
    of a body costs more server time than drawing a small image."""
    try:
        return model.model_validate_json(await request.body())
    except ValidationError as exc:
        errors = [{**error, "loc": ("body", *error["loc"])} for error in exc.errors(include_url=False)]
        for error in errors:
            if error["type"] == "json_invalid":
                error["input"] = None  # the bytes sent, maybe not text
        raise RequestValidationError(errors) from None


def operation(
    body: type[BaseModel], media: dict, json_model: type[BaseModel] | None = None
) -> dict[str, Any]:
    """The OpenAPI of a generating operation that parses its own body: what it takes and answers."""
    request = {"required": True, "content": {"application/json": {"schema": body.model_json_schema()}}}
    return {
        "response_class": Response,
        "responses": answers(media, json_model),
        "openapi_extra": {"requestBody": request},
    }


def answers(media: dict, json_model: type[BaseModel] | None = None) -> dict:
    """What OpenAPI says a generating operation answers: the image (or JSON), and every refusal."""
    seed_header = {"description": "the seed drawn with", "schema": {"type": "string", "pattern": "^[0-9]+$"}}
    success = {
        "description": "the image, or JSON with base64 PNGs for format json",
        "content": media,
        "headers": {"X-Seed": seed_header, "X-Model": {"description": "the model", "schema": {"type": "string"}}},
    }
    if json_model is not None:
        success["model"] = json_model
    return {
        200: success,
        **REFUSED_HOST,
        413: {"model": Problem, "description": f"the body is over {MAX_BODY_BYTES} bytes"},
        422: {
            "model": Invalid,
            "description": "a field is wrong, or the request asks for more than "
            f"{MAX_PIXELS:,} pixels; the message says what is allowed"
        },
        503: {"model": Problem, "description": "the server is busy: retry after Retry-After seconds"},
    }


def create_app(
    sources: list[str] | None = None,
    workers: int = WORKERS,
    max_waiting: int = MAX_WAITING,
    allowed_hosts: Sequence[str] = LOOPBACK_HOSTS,
) -> FastAPI:
    """The app serving the generators in `sources` (run folders, weights files or bundled names; None: the
    bundled MNIST and Fashion-MNIST ones), all loaded here: a broken one raises CganError now. It answers
    requests whose Host header names one of `allowed_hosts` (any port; "*": any host)."""
    models = load_models(sources)
    catalogue = [describe(name, generator) for name, generator in models.items()]
    pool = GenerationPool(workers, max_waiting)

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        yield
        pool.close()

    app = FastAPIOffline(  # Swagger UI at /docs from files in fastapi-offline's package: no CDN
        redoc_url=None,  # ReDoc's bundle fetches its logo from its own CDN
        title="cgan",
        summary="Images of the class you ask for, from class-conditional GANs.",
        version="0.1.0",
        lifespan=lifespan,
        exception_handlers={RequestValidationError: validation_failed},
    )

    def pick(name: str | None) -> tuple[str, TrainedGenerator]:
        if name is None:
            name = next(iter(models))
        if name not in models:
            raise invalid(f"unknown model {name!r}; served models: {', '.join(models)}", "model", name)
        return name, models[name]

    def class_of(generator: TrainedGenerator, field: str, label: int | str) -> int:
        try:
            return generator.label_index(label)
        except CganError as exc:
            raise invalid(str(exc), field, label) from None

    def check_cost(generator: TrainedGenerator, images: int, scale: int, lower: str, frames: int = 1) -> None:
        """One 422 for a request whose output (frames x images, each enlarged) is over MAX_PIXELS."""
        height, width = (side * scale for side in generator.arch.image_shape[1:])
        pixels = frames * images * height * width
        if pixels > MAX_PIXELS:
            what = f"{images} images of {height}x{width}" + (f" in each of {frames} frames" if frames > 1 else "")
            message = (
                f"asks for {pixels:,} pixels ({what}); one request may ask for at most {MAX_PIXELS:,}: "
                f"lower {lower}"
            )
            raise invalid(message)

    def image(content: bytes, media_type: str, name: str, seed: int) -> Response:
        return Response(content, media_type=media_type, headers={"X-Seed": str(seed), "X-Model": name})

    def as_json(answer: BaseModel, name: str, seed: int) -> Response:
        return image(answer.model_dump_json().encode(), "application/json", name, seed)

    GenImagesRequest, GenerateRequest, InterpolateRequest = request_models(models)

    @app.post("/gen_images", **operation(GenImagesRequest, {"image/png": {}}))
    async def gen_images(request: Request) -> Response:
        """One image of class `value`, or a grid_size x grid_size grid of it (as earlier CGAN demos did)."""
        body = await parsed(request, GenImagesRequest)
        name, generator = pick(body.model)
        label = class_of(generator, "value", body.value)
        seed = random_seed() if body.seed is None else body.seed
        if body.grid:
            content = await pool.draw(generator, [label] * body.grid_size**2, seed, lambda im: grid_png(im, 1))
        else:
            content = await pool.draw(generator, [label], seed, lambda images: png_bytes(images[0]))
        return image(content, "image/png", name, seed)

    @app.post("/generate", **operation(GenerateRequest, {"image/png": {}}, GeneratedImages))
    async def generate(request: Request) -> Response:
        """`count` images of one class: a square-ish PNG grid, or JSON with each image as base64 PNG."""
        body = await parsed(request, GenerateRequest)
        name, generator = pick(body.model)
        label = class_of(generator, "label", body.label)
        check_cost(generator, body.count, body.scale, "count or scale")
        seed = random_seed() if body.seed is None else body.seed
        encode = grid_png if body.format == "png" else encoded_pngs
        content = await pool.draw(generator, [label] * body.count, seed, lambda im: encode(im, body.scale))
        if body.format == "png":
            return image(content, "image/png", name, seed)
        answer = GeneratedImages(
            model=name, label=label, class_name=generator.classes[label], seed=seed, images=content
        )
        return as_json(answer, name, seed)

    @app.post("/interpolate", **operation(InterpolateRequest, {"image/gif": {}}, Interpolation))
    async def interpolate(request: Request) -> Response:
        """A looping GIF (or JSON with each frame as base64 PNG) from class `start` to class `end`, or within
        class `start` when `end` is left out."""
        body = await parsed(request, InterpolateRequest)
        name, generator = pick(body.model)
        start = class_of(generator, "start", body.start)
        end = None if body.end is None else class_of(generator, "end", body.end)
        # A bouncing GIF plays the frames between the ends twice.
        frames = 2 * body.steps - 2 if body.format == "gif" and body.bounce else body.steps
        check_cost(generator, body.count, body.scale, "steps, count or scale", frames)
        seed = random_seed() if body.seed is None else body.seed
        if body.format == "gif":
            content = await pool.run(
                lambda: gif_bytes(
                    interpolation_frames(generator, start, end, body.steps, body.count, seed),
                    body.scale,
                    body.frame_ms,
                    hold_ms=4 * body.frame_ms,  # let the eye see where it starts and ends
                    bounce=body.bounce,
                )
            )
            return image(content, "image/gif", name, seed)
        pngs = await pool.run(
            lambda: encoded_pngs(interpolation_frames(generator, start, end, body.steps, body.count, seed), body.scale)
        )
        answer = Interpolation(
            model=name, start=start, end=end, seed=seed, frame_ms=body.frame_ms, frames=pngs
        )
        return as_json(answer, name, seed)

    @app.get("/models", responses=REFUSED_HOST)
    async def list_models() -> list[ModelInfo]:
        """The served models: name, dataset, class names, latent size, training steps, model card summary."""
        return catalogue

    @app.get("/health", responses=REFUSED_HOST)
    async def health() -> Health:
        return Health(status="ok", models=list(models), requests_in_hand=pool.admitted)

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(WEB_DIR / "index.html", headers={"Content-Security-Policy": PAGE_POLICY})

    app.mount("/web", StaticFiles(directory=WEB_DIR), name="web")
    app.add_middleware(Guard, allowed_hosts=allowed_hosts, pool=pool)
    return app
