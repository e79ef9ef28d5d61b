"""The FastAPI app: its routes, the models it serves, and how answers are encoded."""

from __future__ import annotations

import base64
import math
from collections.abc import Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import numpy as np
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from pydantic import (
    BaseModel,
    ValidationError,
)

from ..errors import CganError
from ..generation import (
    TrainedGenerator,
    class_interpolation,
    load_generator,
    noise_interpolation,
    random_seed,
)
from ..images import gif_bytes, make_grid, png_bytes
from ..run_folder import MODEL_CARD_FILE
from .guard import Guard
from .limits import (
    DEFAULT_SOURCES,
    LOOPBACK_HOSTS,
    MAX_BODY_BYTES,
    MAX_PIXELS,
    MAX_WAITING,
    PAGE_POLICY,
    WEB_DIR,
    WORKERS,
)
from .pool import GenerationPool
from .schemas import (
    GeneratedImages,
    Health,
    Interpolation,
    Invalid,
    ModelCard,
    ModelInfo,
    Problem,
    invalid,
    request_models,
)


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


def encoded_pngs(images: Iterable[np.ndarray], scale: int) -> list[str]:
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


REFUSED_HOST: dict[int | str, dict[str, Any]] = {
    400: {"model": Problem, "description": "the Host header names a host not served here"}
}


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
    success: dict[str, Any] = {
        "description": "the image, or JSON with base64 PNGs for format json",
        "content": media,
        "headers": {
            "X-Seed": seed_header,
            "X-Model": {"description": "the model's name, percent-encoded", "schema": {"type": "string"}},
        },
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


class Served:
    """The loaded models and the generation pool, shared by the routes."""

    def __init__(self, models: dict[str, TrainedGenerator], pool: GenerationPool):
        self.models, self.pool = models, pool
        self.catalogue = [describe(name, generator) for name, generator in models.items()]
        # The request bodies list these models and their classes in the OpenAPI schema.
        self.gen_images_request, self.generate_request, self.interpolate_request = request_models(models)

    def pick(self, name: str | None) -> tuple[str, TrainedGenerator]:
        if name is None:
            name = next(iter(self.models))
        if name not in self.models:
            raise invalid(f"unknown model {name!r}; served models: {', '.join(self.models)}", "model", name)
        return name, self.models[name]

    @staticmethod
    def class_of(generator: TrainedGenerator, field: str, label: int | str) -> int:
        try:
            return generator.label_index(label)
        except CganError as exc:
            raise invalid(str(exc), field, label) from None

    @staticmethod
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
    # A header holds only Latin-1, and a model is named after its run folder ("фото", "my run"): the name is
    # percent-encoded as UTF-8, which leaves ASCII letters, digits and -._~ as they are ("fashion-mnist").
    headers = {"X-Seed": str(seed), "X-Model": quote(name, safe="")}
    return Response(content, media_type=media_type, headers=headers)


def as_json(answer: BaseModel, name: str, seed: int) -> Response:
    return image(answer.model_dump_json().encode(), "application/json", name, seed)


def create_app(
    sources: list[str] | None = None,
    workers: int = WORKERS,
    max_waiting: int = MAX_WAITING,
    allowed_hosts: Sequence[str] = LOOPBACK_HOSTS,
) -> FastAPI:
    """The app serving the generators in `sources` (run folders, weights files or bundled names; None: the
    bundled MNIST and Fashion-MNIST ones), all loaded here: a broken one raises CganError now. It answers
    requests whose Host header names one of `allowed_hosts` (any port; "*": any host)."""
    served = Served(load_models(sources), GenerationPool(workers, max_waiting))

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        yield
        served.pool.close()

    app = FastAPIOffline(  # Swagger UI at /docs from files in fastapi-offline's package: no CDN
        redoc_url=None,  # ReDoc's bundle fetches its logo from its own CDN
        title="cgan",
        summary="Images of the class you ask for, from class-conditional GANs.",
        version="0.1.0",
        lifespan=lifespan,
        exception_handlers={RequestValidationError: validation_failed},
    )
    add_image_routes(app, served)
    add_interpolate_route(app, served)
    add_info_routes(app, served)
    app.mount("/web", StaticFiles(directory=WEB_DIR), name="web")
    app.add_middleware(Guard, allowed_hosts=allowed_hosts, pool=served.pool)
    return app


def add_image_routes(app: FastAPI, served: Served) -> None:
    GenImagesRequest, GenerateRequest, pool = served.gen_images_request, served.generate_request, served.pool

    @app.post("/gen_images", **operation(GenImagesRequest, {"image/png": {}}))
    async def gen_images(request: Request) -> Response:
        """One image of class `value`, or a grid_size x grid_size grid of it (as earlier CGAN demos did)."""
        body = await parsed(request, GenImagesRequest)
        name, generator = served.pick(body.model)
        label = served.class_of(generator, "value", body.value)
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
        name, generator = served.pick(body.model)
        label = served.class_of(generator, "label", body.label)
        served.check_cost(generator, body.count, body.scale, "count or scale")
        seed = random_seed() if body.seed is None else body.seed
        labels = [label] * body.count
        if body.format == "png":
            content = await pool.draw(generator, labels, seed, lambda im: grid_png(im, body.scale))
            return image(content, "image/png", name, seed)
        pngs = await pool.draw(generator, labels, seed, lambda im: encoded_pngs(im, body.scale))
        answer = GeneratedImages(
            model=name, label=label, class_name=generator.classes[label], seed=seed, images=pngs
        )
        return as_json(answer, name, seed)


def add_interpolate_route(app: FastAPI, served: Served) -> None:
    InterpolateRequest = served.interpolate_request

    @app.post("/interpolate", **operation(InterpolateRequest, {"image/gif": {}}, Interpolation))
    async def interpolate(request: Request) -> Response:
        """A looping GIF (or JSON with each frame as base64 PNG) from class `start` to class `end`, or within
        class `start` when `end` is left out."""
        body = await parsed(request, InterpolateRequest)
        name, generator = served.pick(body.model)
        start = served.class_of(generator, "start", body.start)
        end = None if body.end is None else served.class_of(generator, "end", body.end)
        if end == start:  # every frame would be the same picture
            raise invalid("names the same class as start; leave end out to walk within one class", "end", body.end)
        # A bouncing GIF plays the frames between the ends twice.
        frames = 2 * body.steps - 2 if body.format == "gif" and body.bounce else body.steps
        served.check_cost(generator, body.count, body.scale, "steps, count or scale", frames)
        seed = random_seed() if body.seed is None else body.seed
        if body.format == "gif":
            content = await served.pool.run(
                lambda: gif_bytes(
                    interpolation_frames(generator, start, end, body.steps, body.count, seed),
                    body.scale,
                    body.frame_ms,
                    hold_ms=4 * body.frame_ms,  # let the eye see where it starts and ends
                    bounce=body.bounce,
                )
            )
            return image(content, "image/gif", name, seed)
        pngs = await served.pool.run(
            lambda: encoded_pngs(interpolation_frames(generator, start, end, body.steps, body.count, seed), body.scale)
        )
        answer = Interpolation(
            model=name, start=start, end=end, seed=seed, frame_ms=body.frame_ms, frames=pngs
        )
        return as_json(answer, name, seed)


def add_info_routes(app: FastAPI, served: Served) -> None:
    @app.get("/models", responses=REFUSED_HOST)
    async def list_models() -> list[ModelInfo]:
        """The served models: name, dataset, class names, latent size, training steps, model card summary."""
        return served.catalogue

    @app.get("/health", responses=REFUSED_HOST)
    async def health() -> Health:
        return Health(status="ok", models=list(served.models), requests_in_hand=served.pool.admitted)

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(WEB_DIR / "index.html", headers={"Content-Security-Policy": PAGE_POLICY})
