"""An .npz file as a dataset: uint8 `images` (N, H, W) or (N, H, W, 3) and integer `labels` (N,), or Keras'
x_train, y_train, x_test, y_test; optionally `class_names`. Read with allow_pickle=False, always."""

from __future__ import annotations

import functools
import zipfile
from pathlib import Path

import numpy as np

from ..errors import DataError
from .userdata import (
    check_class_names,
    check_labels,
    conform,
    default_size,
    fingerprint,
    numbered_classes,
    split_sets,
)

ONE_SET = ("images", "labels")
TWO_SETS = ("x_train", "y_train", "x_test", "y_test")


def _images(array: np.ndarray, where: str) -> np.ndarray:
    if array.ndim == 4 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.dtype != np.uint8 or not (array.ndim == 3 or (array.ndim == 4 and array.shape[-1] == 3)):
        raise DataError(
            f"{where} holds {array.dtype} images of shape {array.shape}; expected uint8 (N, H, W) or "
            "(N, H, W, 3) (scale floats in [0, 1] with (x * 255).round().astype(np.uint8))"
        )
    if 0 in array.shape[1:3]:
        raise DataError(f"{where} holds images of {array.shape[1]}x{array.shape[2]} pixels: there is nothing to learn from")
    return array


def _labels(array: np.ndarray, count: int, where: str) -> np.ndarray:
    if array.ndim != 1 or len(array) != count or not np.issubdtype(array.dtype, np.integer):
        raise DataError(
            f"{where} holds {array.dtype} labels of shape {array.shape}; expected {count} integers"
        )
    return array.astype(np.int64)


def _read(path: Path) -> tuple[dict[str, np.ndarray], tuple[str, ...] | None]:
    if path.is_file() and not zipfile.is_zipfile(path):  # else np.load takes it for a pickle
        raise DataError(f"{path} is not a readable .npz file: an .npz is a zip archive of arrays, and it is not one")
    try:
        with np.load(path, allow_pickle=False) as stored:
            keys = set(stored.files)
            wanted = ONE_SET if set(ONE_SET) <= keys else TWO_SETS if set(TWO_SETS) <= keys else None
            if wanted is None:
                raise DataError(
                    f"{path} holds {', '.join(sorted(keys)) or 'nothing'}; expected the arrays images and "
                    "labels (optionally class_names), or x_train, y_train, x_test and y_test"
                )
            arrays = {key: stored[key] for key in wanted}
            names = stored["class_names"] if "class_names" in keys else None
    except FileNotFoundError:
        raise DataError(f"{path} does not exist") from None
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            raise DataError(
                f"{path} holds Python objects, which cgan does not unpickle; store class_names as an array "
                "of strings (np.array(names)) and images and labels as numeric arrays"
            ) from None
        raise DataError(f"{path} is not a readable .npz file ({exc})") from None
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path} is not a readable .npz file ({exc})") from None
    if names is None:
        return arrays, None
    if names.ndim != 1 or names.dtype.kind != "U":
        raise DataError(f"{path}: class_names must be a 1-D array of distinct strings")
    return arrays, check_class_names(names.tolist(), f"{path}: class_names")


@functools.lru_cache(maxsize=2)
def load_npz(
    path: str, stat: tuple[int, int], size: int | None, channels: int | None
) -> tuple[dict, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """The description and the train/test splits of an .npz dataset (`stat`: its size and mtime, so a changed
    file is read again)."""
    arrays, names = _read(Path(path))
    if "images" in arrays:
        images = _images(arrays["images"], f"{path}: images")
        sets = {"all": (images, _labels(arrays["labels"], len(images), f"{path}: labels"))}
    else:
        sets = {}
        for split, x, y in (("train", "x_train", "y_train"), ("test", "x_test", "y_test")):
            images = _images(arrays[x], f"{path}: {x}")
            sets[split] = (images, _labels(arrays[y], len(images), f"{path}: {y}"))
    all_labels = np.concatenate([labels for _, labels in sets.values()])
    if all_labels.size == 0:
        raise DataError(f"{path} holds no images")
    classes = names if names is not None else numbered_classes(all_labels, path)
    side = size or default_size({images.shape[1:3][::-1] for images, _ in sets.values()})
    colour = channels == 3 or (channels is None and any(images.ndim == 4 for images, _ in sets.values()))
    sets = {s: (conform(images, side, 3 if colour else 1), labels) for s, (images, labels) in sets.items()}
    name = Path(path).stem
    if "all" in sets:
        content, splits = split_sets(name, classes, *sets["all"], path)
    else:
        check_labels(sets["train"][1], classes, f"{path}: y_train")
        check_labels(sets["test"][1], classes, f"{path}: y_test", every_class=False)
        splits = sets
        content = fingerprint(name, classes, [a for pair in splits.values() for a in pair])
    meta = {
        "name": name,
        "classes": list(classes),
        "image_shape": [3 if colour else 1, side, side],
        "fingerprint": content,
        "held_out": "all" in sets,
        "counts": {s: np.bincount(y, minlength=len(classes)).tolist() for s, (_, y) in splits.items()},
    }
    return meta, splits
