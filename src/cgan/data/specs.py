"""The built-in datasets (MNIST, Fashion-MNIST): their classes, files, checksums and mirrors, and the
parsing of a class label given by index or by name."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from numbers import Integral

from ..errors import DataError

SIGNED_NUMBER = re.compile(r"[+-]\s*\d+")


def _normalise(text: str) -> str:
    """Fold case and drop punctuation/spaces, so "Ankle boot", "ankle_boot" and "ankle-boot" compare equal."""
    return re.sub(r"[^a-z0-9]", "", text.lower())


@dataclass(frozen=True)
class DatasetSpec:
    """What a dataset is called, what its files are, how to check them and where to download them."""

    name: str
    classes: tuple[str, ...]
    image_shape: tuple[int, int, int]
    files: dict[str, tuple[str, str]]
    sha256: dict[str, str]
    mirrors: tuple[str, ...]
    counts: dict[str, int]
    # Folder name torchvision uses under its root, holding the files in "raw/".
    torchvision_dir: str = ""
    # Debian/Ubuntu package that installs the files under /usr/share/datasets/<name>.
    apt_package: str | None = None
    # Other accepted spellings of class names (normalised with `_normalise`) -> label.
    aliases: dict[str, int] = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def filenames(self) -> tuple[str, ...]:
        """All files of all splits, in download order."""
        return tuple(f for split in self.files for f in self.files[split])

    def class_index(self, label: str | int) -> int:
        """Label index from an index (7 or "7") or a class name ("sneaker", "Ankle boot", "T-shirt/top")."""
        if isinstance(label, Integral) and not isinstance(label, bool):
            index = int(label)
        elif isinstance(label, str) and label.strip().isdigit():
            index = int(label.strip())
        elif isinstance(label, str) and SIGNED_NUMBER.fullmatch(label.strip()):
            # Normalising would drop the sign and read "-1" as class 1.
            raise DataError(
                f"{self.name} class {label!r} is not a class; use an index 0-{self.num_classes - 1} "
                f"or one of: {', '.join(self.classes)}"
            )
        elif isinstance(label, str):
            key = _normalise(label)
            names = {_normalise(c): i for i, c in enumerate(self.classes)} | self.aliases
            if key not in names:
                raise DataError(
                    f"unknown {self.name} class {label!r}; use an index 0-{self.num_classes - 1} "
                    f"or one of: {', '.join(self.classes)}"
                )
            return names[key]
        else:
            raise DataError(f"a class label must be an int or a string, not {type(label).__name__}")
        if not 0 <= index < self.num_classes:
            raise DataError(
                f"{self.name} class index {index} is out of range; use 0-{self.num_classes - 1} "
                f"or one of: {', '.join(self.classes)}"
            )
        return index


_IDX_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
_COUNTS = {"train": 60000, "test": 10000}

# SHA-256 of the decompressed IDX files. Mirrors gzip the same bytes differently, so only the
# decompressed content is a stable identity.
DATASETS: dict[str, DatasetSpec] = {
    "mnist": DatasetSpec(
        name="mnist",
        classes=tuple(str(d) for d in range(10)),
        image_shape=(1, 28, 28),
        files=_IDX_FILES,
        sha256={
            "train-images-idx3-ubyte.gz": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
            "train-labels-idx1-ubyte.gz": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
            "t10k-images-idx3-ubyte.gz": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
            "t10k-labels-idx1-ubyte.gz": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        },
        mirrors=(
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
            "http://yann.lecun.com/exdb/mnist/",
        ),
        counts=_COUNTS,
        torchvision_dir="MNIST",
    ),
    "fashion-mnist": DatasetSpec(
        name="fashion-mnist",
        classes=(
            "t-shirt",
            "trouser",
            "pullover",
            "dress",
            "coat",
            "sandal",
            "shirt",
            "sneaker",
            "bag",
            "ankle-boot",
        ),
        image_shape=(1, 28, 28),
        files=_IDX_FILES,
        sha256={
            "train-images-idx3-ubyte.gz": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
            "train-labels-idx1-ubyte.gz": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
            "t10k-images-idx3-ubyte.gz": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
            "t10k-labels-idx1-ubyte.gz": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        },
        mirrors=(
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
            "https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/",
        ),
        counts=_COUNTS,
        torchvision_dir="FashionMNIST",
        apt_package="dataset-fashion-mnist",
        # The official Fashion-MNIST label names.
        aliases={"tshirttop": 0, "top": 0, "sneakers": 7, "boot": 9},
    ),
}


def get_spec(name: str) -> DatasetSpec:
    """The spec for "mnist" or "fashion-mnist" (also "fashion_mnist", "FashionMNIST", ...)."""
    by_key = {_normalise(n): spec for n, spec in DATASETS.items()}
    spec = by_key.get(_normalise(name)) if isinstance(name, str) else None
    if spec is None:
        raise DataError(f"unknown dataset {name!r}; known datasets: {', '.join(DATASETS)}")
    return spec
