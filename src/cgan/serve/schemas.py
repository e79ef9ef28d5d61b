"""The request bodies (checked before any work) and the JSON answers, as pydantic models: the OpenAPI
schema is generated from them, so it says exactly what the server takes and gives."""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar

from fastapi.exceptions import RequestValidationError
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
    create_model,
    field_validator,
)
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError

from ..generation import (
    TrainedGenerator,
)
from .limits import (
    MAX_COUNT,
    MAX_FRAME_MS,
    MAX_GRID_SIZE,
    MAX_NAME_CHARS,
    MAX_SCALE,
    MAX_SEED,
    MAX_STEPS,
)


def bounded(low: int, high: int, what: str) -> tuple[FieldInfo, WrapValidator]:
    """What makes an int field one in low..high whose error states the whole allowed range, not only the
    bound it broke: `Annotated[int, *bounded(...)]`."""

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

    return Field(ge=low, le=high, description=f"{what}, {low}-{high}"), WrapValidator(check)


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
Seed = Annotated[
    int, *bounded(0, MAX_SEED, "random seed, the same seed gives the same bytes (default: a fresh one)")
]
Scale = Annotated[int, *bounded(1, MAX_SCALE, "enlarge each pixel this many times")]


class Body(BaseModel):
    # A misspelt field is an error, not silently ignored; "5", 5.0 and true are not the integer 5.
    model_config = ConfigDict(extra="forbid", strict=True)


BodyT = TypeVar("BodyT", bound=Body)


class GenImagesRequest(Body):
    """The body earlier CGAN demos published: one image of class `value`, or a grid_size x grid_size
    grid."""

    value: Label
    grid: bool = False
    grid_size: Annotated[
        int,
        *bounded(0, MAX_GRID_SIZE, "images per side of the grid when grid is true"),
        Field(validate_default=True),  # grid true without a grid_size is an error too
    ] = 0
    model: StrictStr | None = None
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

    model: StrictStr | None = None
    label: Label
    count: Annotated[int, *bounded(1, MAX_COUNT, "number of images")] = 16
    seed: Seed | None = None
    format: Literal["png", "json"] = "png"
    scale: Scale = 1


class InterpolateRequest(Body):
    """Frames that blend class `start` into class `end` with the noise fixed, or, without `end`, that
    move the noise of one class along a great circle (the style changes, the class stays)."""

    model: StrictStr | None = None
    start: Label
    end: Label | None = None
    steps: Annotated[int, *bounded(2, MAX_STEPS, "frames from start to end, both included")] = 16
    count: Annotated[int, *bounded(1, MAX_GRID_SIZE, "images side by side in each frame")] = 1
    seed: Seed | None = None
    format: Literal["gif", "json"] = "gif"
    scale: Scale = 1
    frame_ms: Annotated[int, *bounded(20, MAX_FRAME_MS, "milliseconds per GIF frame")] = 80
    bounce: bool = Field(True, description="GIF plays forward then back, so the loop never jumps")


def request_models(
    models: dict[str, TrainedGenerator],
) -> tuple[type[GenImagesRequest], type[GenerateRequest], type[InterpolateRequest]]:
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
    served_model = (Annotated[StrictStr, WithJsonSchema(model_schema)] | None, None)
    served_label = Annotated[Label, WithJsonSchema(label_schema)]

    def served(body: type[BodyT], **fields: Any) -> type[BodyT]:
        """`body` (same name, same docstring) with `fields`, (type, default) pairs, declared anew."""
        return create_model(body.__name__, __base__=body, __doc__=body.__doc__, **fields)

    return (
        served(GenImagesRequest, model=served_model, value=(served_label, ...)),
        served(GenerateRequest, model=served_model, label=(served_label, ...)),
        served(
            InterpolateRequest, model=served_model, start=(served_label, ...), end=(served_label | None, None)
        ),
    )


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


def invalid(message: str, field: str | None = None, value: Any = None) -> RequestValidationError:
    """A 422 in FastAPI's own shape, for what only a loaded model can check (model names, class labels,
    output size): about one field, or the whole body."""
    loc = ("body",) if field is None else ("body", field)
    return RequestValidationError([{"type": "value_error", "loc": loc, "msg": message, "input": value}])
