"""The public evaluation API: the metrics of images, of a generator, of real data (the floor), of whatever
`cgan evaluate` is pointed at, and the light measurement the training loop takes.

The evaluator (evaluator.py) is a small CNN classifier trained on the real train split of one dataset.

Every metric compares the images under test with a *reference* drawn from the real TEST split: for each
class, as many test images as the evaluated set has of that class (all of them when the test split has
fewer), chosen with the seed. The same seed gives the same numbers.

Keys of the dict that `evaluate_images`, `evaluate_generator` and `evaluate_real` return (stable):

    dataset                      dataset name, e.g. "mnist"
    num_images                   number of images evaluated
    seed                         the seed used for every random choice
    evaluator_test_accuracy      the evaluator's own accuracy on the real test split (from its file)
    class_accuracy               fraction of images whose evaluator argmax equals their label
    per_class_accuracy           list, one entry per class (null for a class with no images)
    confusion                    list of rows, one per class: row c holds the fractions of the images of
                                 class c that the evaluator assigns to each class (rows sum to 1, the
                                 diagonal is per_class_accuracy; null for a class with no images)
    fd_evaluator                 Frechet distance between Gaussians fitted to evaluator features of the
                                 images and of the reference; NOT the Inception FID, not comparable to it
    fd_evaluator_per_class       list, the same per class (null for a class with fewer than 2 images)
    fd_evaluator_per_class_mean  mean of fd_evaluator_per_class over the classes present
    precision, recall            Kynkaanniemi et al. 2019, k=3, in the evaluator feature space
    cas                          Classification Accuracy Score (Ravuri & Vinyals 2019): a fresh small
                                 classifier trained on the images and their labels, accuracy on the
                                 whole real test split (only when cas=True)
    cas_real                     the same recipe trained on as many real TRAIN images per class
    fid_inception                Inception FID through torch-fidelity (only when inception=True)

`quality_metrics` is the light version for the training loop: class_accuracy, fd_evaluator,
fd_evaluator_per_class_mean, precision and recall of a generator network, without CAS.
"""

from __future__ import annotations

import os
import weakref
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..data import Dataset, resolve_dataset
from ..errors import CganError
from ..generation import TrainedGenerator, generate_images, load_generator, noise
from ..generation.generator import check_seed, device_of
from ..run_folder import is_run_folder
from .cas import cas_real, train_and_test_classifier
from .evaluator import Evaluator, default_evaluator, embed, load_evaluator
from .inception import inception_fid, torch_fidelity
from .metrics import choose_per_class, feature_metrics
from .samples import check_per_class, check_samples, read_npz, read_png_folder

QUALITY_KEYS = ("class_accuracy", "fd_evaluator", "fd_evaluator_per_class_mean", "precision", "recall")
DEFAULT_PER_CLASS = 1000


@dataclass(frozen=True)
class EvaluationOptions:
    """How to measure: the seed of every random choice, which optional metrics, which evaluator."""

    seed: int = 0
    cas: bool = True
    inception: bool = False
    evaluator: Evaluator | None = None  # None: the one shipped for the dataset

    def evaluator_for(self, dataset: Dataset) -> Evaluator:
        return self.evaluator if self.evaluator is not None else default_evaluator(dataset)


# evaluator -> {dataset: features of its whole test split}; dies with the evaluator.
_TEST_FEATURES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _test_features(evaluator: Evaluator, dataset: Dataset) -> torch.Tensor:
    cached = _TEST_FEATURES.setdefault(evaluator, {})
    if dataset not in cached:
        cached[dataset] = embed(evaluator, dataset.split("test")[0])[0]
    return cached[dataset]


def measure(
    images: np.ndarray, labels: np.ndarray, dataset: Dataset, options: EvaluationOptions, real_train=False
) -> dict:
    """All metrics of checked images; `real_train` says they are the real train images that `cas_real`
    would choose, so their CAS is that (cached) number."""
    evaluator = options.evaluator_for(dataset)
    if evaluator.dataset != dataset.name:
        raise CganError(f"this evaluator is for {evaluator.dataset!r}, the images are {dataset.name!r}")
    if options.inception:
        torch_fidelity()  # fail before the slow part, not after it
    counts = np.bincount(labels, minlength=dataset.num_classes)
    test_images, test_labels = dataset.split("test")
    reference = choose_per_class(test_labels, counts, options.seed, stream=0)
    features, predictions = embed(evaluator, images)
    reference_features = _test_features(evaluator, dataset)[reference]
    result = {
        "dataset": dataset.name,
        "classes": list(dataset.classes),
        "num_images": len(images),
        "seed": options.seed,
        "evaluator_test_accuracy": evaluator.meta.get("test_accuracy"),
        **feature_metrics(
            features, predictions, labels, reference_features, test_labels[reference], dataset.num_classes
        ),
    }
    if options.cas:
        floor = cas_real(dataset, tuple(counts.tolist()), options.seed)
        result["cas"] = floor if real_train else train_and_test_classifier(images, labels, dataset, options.seed)
        result["cas_real"] = floor
    if options.inception:
        result["fid_inception"] = inception_fid(images, test_images[reference])
    return result


def evaluate_images(
    images: np.ndarray,
    labels: np.ndarray,
    dataset: str | Dataset,
    seed: int = 0,
    cas: bool = True,
    evaluator: Evaluator | None = None,
    data_dir: str | os.PathLike | None = None,
    inception: bool = False,
) -> dict:
    """Every metric (see the module docstring) of uint8 images (N, 28, 28) with labels (N,)."""
    dataset = resolve_dataset(dataset, data_dir)
    images, labels = check_samples(images, labels, dataset)
    options = EvaluationOptions(check_seed(seed), cas, inception, evaluator)
    return measure(images, labels, dataset, options)


def evaluate_generator(
    generator: TrainedGenerator,
    per_class: int = DEFAULT_PER_CLASS,
    seed: int = 0,
    cas: bool = True,
    evaluator: Evaluator | None = None,
    data_dir: str | os.PathLike | None = None,
    inception: bool = False,
) -> dict:
    """Every metric of `per_class` images of each class from a `TrainedGenerator`, noise drawn from `seed`."""
    dataset = generator.training_data(data_dir)
    if len(generator.classes) != dataset.num_classes:
        raise CganError(
            f"{generator.source} has {len(generator.classes)} classes, {dataset.name} has {dataset.num_classes}"
        )
    labels = np.repeat(np.arange(dataset.num_classes, dtype=np.int64), check_per_class(per_class))
    images = generator.generate(labels.tolist(), seed=check_seed(seed))
    return evaluate_images(images, labels, dataset, seed, cas, evaluator, inception=inception)


def evaluate_real(
    dataset: str | Dataset,
    per_class: int = DEFAULT_PER_CLASS,
    seed: int = 0,
    data_dir: str | os.PathLike | None = None,
    cas: bool = True,
    evaluator: Evaluator | None = None,
    counts: list[int] | None = None,
) -> dict:
    """The metrics of real TRAIN images (`per_class` of each class, chosen with `seed`) against the real
    test split: the floor a generator is compared with. `counts` (one per class) replaces `per_class`
    to match an evaluated set whose classes are not balanced."""
    dataset = resolve_dataset(dataset, data_dir)
    seed = check_seed(seed)
    if counts is None:
        counts = [check_per_class(per_class)] * dataset.num_classes
    train_images, train_labels = dataset.split("train")
    chosen = choose_per_class(train_labels, np.array(counts), seed, stream=1)
    options = EvaluationOptions(seed, cas, evaluator=evaluator)
    return measure(train_images[chosen], train_labels[chosen], dataset, options, real_train=True)


def quality_metrics(
    generator_net: nn.Module,
    dataset: str | Dataset,
    latent_dim: int,
    per_class: int = 200,
    seed: int = 0,
    data_dir: str | os.PathLike | None = None,
) -> dict[str, float]:
    """The QUALITY_KEYS metrics of a generator network during training: fast (no CAS), flat floats.

    Draws `per_class` images of each class from noise seeded by `seed` (on the CPU, so the numbers do not
    depend on the device), in eval mode; the network's mode and the global random state are left as found.
    The evaluator and the real test features are loaded once per process and device.
    """
    dataset = resolve_dataset(dataset, data_dir)
    labels = np.repeat(np.arange(dataset.num_classes, dtype=np.int64), check_per_class(per_class))
    seed = check_seed(seed)
    images = generate_images(generator_net, noise(seed, len(labels), latent_dim), torch.from_numpy(labels))
    device = device_of(generator_net)
    options = EvaluationOptions(seed, cas=False, evaluator=default_evaluator(dataset, str(device)))
    result = measure(images, labels, dataset, options)
    return {key: result[key] for key in QUALITY_KEYS}


def is_sample_file(source: str | os.PathLike) -> bool:
    """An .npz or a folder of PNGs, as opposed to a run folder or a bundled generator's name."""
    path = Path(source)
    return path.suffix.lower() == ".npz" or (path.is_dir() and not is_run_folder(path))


def evaluate_source(
    source: str | os.PathLike | None = None,
    dataset: str | None = None,
    per_class: int | None = None,
    real: bool = False,
    floor: bool = True,
    seed: int = 0,
    cas: bool = True,
    inception: bool = False,
    evaluator_file: str | os.PathLike | None = None,
    data_dir: str | os.PathLike | None = None,
) -> dict:
    """What `cgan evaluate` measures: a run folder, weights file, bundled name, .npz or folder of PNGs
    (`source`), or with `real` the real train images of `dataset`; beside it (`floor`) the real train
    images in the same numbers per class. Returns the metrics plus "source" (a description) and "floor"."""
    if real and (source or not dataset):
        raise CganError("--real evaluates real train images: give --dataset NAME and no SOURCE")
    if real and inception:
        raise CganError("--inception is for generated images, not with --real")
    target = resolve_dataset(dataset, data_dir) if dataset else None
    samples = bool(source and is_sample_file(source))
    generator = None
    if samples and not target:
        raise CganError(f"say which dataset {source} holds: --dataset mnist or --dataset fashion-mnist")
    if samples and per_class:
        raise CganError("--per-class is for generators; an .npz or PNG folder is evaluated as it is")
    if not real and not samples:
        if source:
            generator = load_generator(source)
        elif target:
            generator = load_generator(target.name)
        else:
            raise CganError(
                "give a run folder, an .npz, a folder of PNGs, or --dataset NAME for the bundled generator"
            )
        if source and target and generator.dataset != target.name:
            raise CganError(f"{source} was trained on {generator.dataset}, not {target.name}")
        target = target or generator.training_data(data_dir)
    # Known by now: --real and samples need --dataset, and a generator brings its own.
    assert target is not None
    evaluator = load_evaluator(target, evaluator_file) if evaluator_file else None
    per_class = per_class or DEFAULT_PER_CLASS

    if real:
        result = evaluate_real(target, per_class, seed, cas=cas, evaluator=evaluator)
        return {"source": "real train", **result}
    if generator is None:
        assert source is not None  # no generator: `source` names an .npz or a folder of PNGs
        path = Path(source)
        images, labels = read_npz(path) if path.suffix.lower() == ".npz" else read_png_folder(path, target)
        result = evaluate_images(images, labels, target, seed, cas, evaluator, inception=inception)
        counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=target.num_classes).tolist()
        output = {"source": f"{path} ({len(images)} images)", **result}
    else:
        result = evaluate_generator(generator, per_class, seed, cas, evaluator, data_dir, inception)
        counts = [per_class] * len(generator.classes)
        output = {"source": f"{generator.source} ({per_class} per class)", **result}
    if floor:
        output["floor"] = evaluate_real(target, seed=seed, cas=cas, evaluator=evaluator, counts=counts)
    return output
