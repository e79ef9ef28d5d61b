"""The project's own evaluator network and the sample-quality metrics built on it.

Input convention: every network here reads uint8 images (N, 28, 28) through `to_input`, which gives
float32 (N, 1, 28, 28) = pixel / 127.5 - 1, i.e. values in [-1, 1] as the generators draw them.

The evaluator is a small CNN classifier trained on the real train split of one dataset (weights shipped
in `cgan/evaluators/`). Its argmax judges whether an image shows the class it was asked for; its
penultimate layer (128 features) is the space in which image distributions are compared.

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

import functools
import math
import os
import sys
import time
import weakref
import zipfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import data
from .checkpoint import load_module, load_tensors, module_tensors, save_tensors
from .errors import CganError, CheckpointError
from .sampling import to_uint8

EVALUATOR_FORMAT = "cgan-evaluator"
EVALUATOR_DIR = Path(__file__).parent / "evaluators"
IMAGE_SIZE = 28
PR_NEIGHBOURS = 3  # k of Kynkaanniemi et al.
PR_CHUNK = 1000  # rows of the pairwise-distance matrix held at once: 1000 x 10000 floats = 40 MB
# Epochs of `cgan train-evaluator` (about 40 s each on one CPU core); enough for 99.3% / 92% test accuracy.
DEFAULT_EPOCHS = {"mnist": 6, "fashion-mnist": 10}
CAS_EPOCHS = 4
CAS_BATCH = 64


def to_input(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 (N, 28, 28) -> float32 (N, 1, 28, 28) in [-1, 1]: the one conversion every network here uses."""
    pixels = torch.as_tensor(images)
    return (pixels.float() / 127.5 - 1.0).unsqueeze(1)


# --- the evaluator network --------------------------------------------------------------------


def _conv(cin: int, cout: int, kernel: int = 3, stride: int = 1) -> list[nn.Module]:
    return [
        nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    ]


class Evaluator(nn.Module):
    """conv5x5/2 - conv - conv - pool - conv - pool - fc(128 features) - fc(classes), with BN and dropout.

    The strided first convolution keeps the work at 14x14 from the start: on a CPU core this trains
    about twice as fast as two full-resolution convolutions, for the same accuracy on 28x28 digits.
    """

    def __init__(self, num_classes: int = 10, width: int = 32, feature_dim: int = 128):
        super().__init__()
        self.config = {"num_classes": num_classes, "width": width, "feature_dim": feature_dim}
        self.body = nn.Sequential(
            *_conv(1, width, kernel=5, stride=2),  # 14x14
            *_conv(width, 2 * width),
            *_conv(2 * width, 2 * width),
            nn.MaxPool2d(2),  # 7x7
            *_conv(2 * width, 4 * width),
            nn.MaxPool2d(2),  # 3x3
            nn.Flatten(),
            nn.Linear(4 * width * 9, feature_dim, bias=False),
            nn.BatchNorm1d(feature_dim),
            nn.ReLU(inplace=True),
        )
        self.head = nn.Sequential(nn.Dropout(0.3), nn.Linear(feature_dim, num_classes))
        self.dataset = ""
        self.meta: dict = {}

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The penultimate layer (feature_dim values per image) for inputs made by `to_input`."""
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


@torch.inference_mode()
def embed(
    evaluator: Evaluator, images: np.ndarray, batch_size: int = 1000
) -> tuple[torch.Tensor, np.ndarray]:
    """Features (float32 CPU tensor, N x feature_dim) and predicted labels (int64 array) of uint8 images."""
    was_training = evaluator.training
    evaluator.eval()
    device = next(evaluator.parameters()).device
    features, predictions = [], []
    for start in range(0, len(images), batch_size):
        batch = to_input(images[start : start + batch_size]).to(device)
        feats = evaluator.features(batch)
        features.append(feats.float().cpu())
        predictions.append(evaluator.head(feats).argmax(1).cpu())
    evaluator.train(was_training)
    return torch.cat(features), torch.cat(predictions).numpy()


def _shifted(batch: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Each uint8 image (B, H, W) moved by its own random offset of up to max_shift pixels, zero-filled."""
    count, height, width = batch.shape
    padded = F.pad(batch, (max_shift,) * 4)
    dy, dx = torch.randint(0, 2 * max_shift + 1, (2, count, 1), generator=generator)
    rows = (dy + torch.arange(height))[:, :, None]
    cols = (dx + torch.arange(width))[:, None, :]
    return padded[torch.arange(count)[:, None, None], rows, cols]


def _augment(batch: torch.Tensor, flips: bool, generator: torch.Generator) -> torch.Tensor:
    batch = _shifted(batch, 2, generator)
    if flips:
        flip = torch.rand(len(batch), generator=generator) < 0.5
        batch = torch.where(flip[:, None, None], batch.flip(-1), batch)
    return batch


def _accuracy(net: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 1000) -> float:
    net.eval()
    correct = 0
    with torch.inference_mode():
        for start in range(0, len(images), batch_size):
            logits = net(to_input(images[start : start + batch_size]))
            correct += int((logits.argmax(1) == labels[start : start + batch_size]).sum())
    return correct / len(images)


def train_evaluator(
    dataset: str,
    data_dir: str | os.PathLike | None = None,
    epochs: int | None = None,
    seed: int = 0,
    out: str | os.PathLike = "evaluators",
    batch_size: int = 128,
    progress: bool = False,
    command: str | None = None,
    max_images: int | None = None,
) -> dict:
    """Train the evaluator on the real train split and write `<out>/<dataset>.safetensors`.

    Augmentation: random shifts of up to 2 pixels; for Fashion-MNIST also horizontal flips (clothes are
    left-right symmetric, digits are not). Adam with a one-cycle learning rate. Returns the metadata
    stored in the file: test_accuracy, epochs, seed, command, wall_s, ... `max_images` trains on the
    first N training images only (for tests).
    """
    spec = data.get_spec(dataset)
    epochs = DEFAULT_EPOCHS[spec.name] if epochs is None else int(epochs)
    if epochs < 1:
        raise CganError(f"epochs must be at least 1, got {epochs}")
    images, labels = data.load(spec.name, "train", data_dir)
    images, labels = images[:max_images], labels[:max_images]
    test_images, test_labels = data.load(spec.name, "test", data_dir)
    started = time.perf_counter()

    with torch.random.fork_rng(devices=[]):  # leave the caller's random state untouched
        torch.manual_seed(seed)
        net = Evaluator(spec.num_classes).to(memory_format=torch.channels_last)
    order = torch.Generator().manual_seed(seed)
    steps_per_epoch = math.ceil(len(images) / batch_size)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=3e-3, total_steps=epochs * steps_per_epoch
    )
    for epoch in range(1, epochs + 1):
        net.train()
        for batch in torch.randperm(len(images), generator=order).split(batch_size):
            x = to_input(_augment(images[batch], spec.name == "fashion-mnist", order))
            loss = F.cross_entropy(net(x.contiguous(memory_format=torch.channels_last)), labels[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
        if progress:
            accuracy = _accuracy(net, test_images, test_labels)
            elapsed = time.perf_counter() - started
            print(f"epoch {epoch}/{epochs}: test accuracy {accuracy:.4f} ({elapsed:.0f} s)", file=sys.stderr)

    meta = {
        "dataset": spec.name,
        "classes": list(spec.classes),
        "config": net.config,
        "test_accuracy": round(_accuracy(net, test_images, test_labels), 5),
        "epochs": epochs,
        "seed": seed,
        "wall_s": round(time.perf_counter() - started, 1),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "command": command or f"train_evaluator({spec.name!r}, epochs={epochs}, seed={seed})",
    }
    save_tensors(
        Path(out) / f"{spec.name}.safetensors", module_tensors("evaluator", net), EVALUATOR_FORMAT, meta
    )
    return meta


def load_evaluator(
    dataset: str, path: str | os.PathLike | None = None, device: str | torch.device = "cpu"
) -> Evaluator:
    """The evaluator for `dataset`: the shipped weights by default, or those in `path`."""
    spec = data.get_spec(dataset)
    path = Path(path) if path is not None else EVALUATOR_DIR / f"{spec.name}.safetensors"
    if not path.is_file():
        raise CheckpointError(
            f"no evaluator weights at {path}; train them with: cgan train-evaluator --dataset {spec.name}"
        )
    tensors, meta = load_tensors(path, EVALUATOR_FORMAT)
    if meta.get("dataset") != spec.name:
        raise CheckpointError(f"{path} is an evaluator for {meta.get('dataset')!r}, not for {spec.name!r}")
    try:
        with torch.random.fork_rng(devices=[]):  # building layers draws initial weights: not from ours
            net = Evaluator(**meta["config"])
    except (KeyError, TypeError) as exc:
        raise CheckpointError(f"{path} has a damaged evaluator description ({exc})") from None
    load_module("evaluator", net, tensors, path)
    net.dataset, net.meta = spec.name, meta
    return net.to(device).eval()


@functools.lru_cache(maxsize=8)
def default_evaluator(dataset: str, device: str = "cpu") -> Evaluator:
    """The shipped evaluator, loaded once per process (and device), so cached real features stay valid."""
    return load_evaluator(dataset, device=device)


# --- statistics -------------------------------------------------------------------------------


# The linear algebra runs in torch, not numpy: numpy's threaded BLAS slows down a hundredfold on a
# shared CPU (measured: 0.24 s instead of 1 ms for one 128x128 eigh), torch follows set_num_threads.


def gaussian_stats(features: torch.Tensor | np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and covariance (float64) of the rows of `features`."""
    values = torch.as_tensor(features, dtype=torch.float64)
    return values.mean(0), torch.atleast_2d(torch.cov(values.T))


def _sqrt_psd(matrix: torch.Tensor) -> torch.Tensor:
    eigenvalues, eigenvectors = torch.linalg.eigh(matrix)
    return (eigenvectors * eigenvalues.clamp(min=0).sqrt()) @ eigenvectors.T


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """||mu1 - mu2||^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2)) between two Gaussians, in float64.

    tr (S1 S2)^(1/2) equals tr (R S2 R)^(1/2) with R = S1^(1/2); R S2 R is symmetric positive
    semi-definite, so both roots come from symmetric eigendecompositions (no scipy.linalg.sqrtm).
    """
    mu1, mu2, sigma1, sigma2 = (torch.as_tensor(v, dtype=torch.float64) for v in (mu1, mu2, sigma1, sigma2))
    root1 = _sqrt_psd(sigma1)
    inner = root1 @ sigma2 @ root1
    trace_root = torch.linalg.eigvalsh((inner + inner.T) / 2).clamp(min=0).sqrt().sum()
    diff = mu1 - mu2
    distance = diff @ diff + sigma1.trace() + sigma2.trace() - 2 * trace_root
    return max(float(distance), 0.0)  # rounding can leave -1e-12 for identical Gaussians


def _squared_distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return ((a * a).sum(1, keepdim=True) + (b * b).sum(1) - 2 * a @ b.T).clamp_(min=0)


def _neighbour_radii(points: torch.Tensor, k: int) -> torch.Tensor:
    """Squared distance from each point to its k-th nearest other point, computed in row chunks."""
    radii = []
    for chunk in points.split(PR_CHUNK):
        # k + 1: the point itself is among its nearest, at distance 0. (topk is 10x faster than kthvalue.)
        radii.append(_squared_distances(chunk, points).topk(k + 1, dim=1, largest=False).values[:, -1])
    return torch.cat(radii)


def _coverage(queries: torch.Tensor, points: torch.Tensor, radii: torch.Tensor) -> float:
    """Fraction of queries inside at least one ball (point, radius): inside the points' manifold."""
    inside = 0
    for chunk in queries.split(PR_CHUNK):
        inside += int((_squared_distances(chunk, points) <= radii).any(1).sum())
    return inside / len(queries)


def precision_recall(real: torch.Tensor, fake: torch.Tensor, k: int = PR_NEIGHBOURS) -> tuple[float, float]:
    """Improved precision and recall (Kynkaanniemi et al. 2019) of feature sets `fake` against `real`."""
    if len(real) <= k or len(fake) <= k:
        raise CganError(f"precision/recall need more than {k} images in each set")
    real, fake = real.float(), fake.float()
    precision = _coverage(fake, real, _neighbour_radii(real, k))
    recall = _coverage(real, fake, _neighbour_radii(fake, k))
    return precision, recall


# --- checking inputs --------------------------------------------------------------------------


def check_samples(images, labels, spec: data.DatasetSpec) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images (N, 28, 28) and int64 labels (N,) in range, or a CganError naming the problem."""
    images = images.numpy() if torch.is_tensor(images) else np.asarray(images)
    labels = labels.numpy() if torch.is_tensor(labels) else np.asarray(labels)
    if images.ndim != 3 or images.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
        hint = " (drop the channel axis: images[:, 0])" if images.ndim == 4 and images.shape[1] == 1 else ""
        raise CganError(f"images must have shape (N, 28, 28), got {images.shape}{hint}")
    if len(images) == 0:
        raise CganError("no images to evaluate")
    if images.dtype != np.uint8:
        if not np.issubdtype(images.dtype, np.integer):
            low, high = float(images.min()), float(images.max())
            raise CganError(
                f"images must be uint8 pixels 0-255, got {images.dtype} with values {low:g} to {high:g}; "
                "convert them, e.g. (x * 255).round().astype(np.uint8) for floats in [0, 1]"
            )
        if images.min() < 0 or images.max() > 255:
            raise CganError(
                f"image values must be 0-255, got {images.dtype} values {images.min()} to {images.max()}"
            )
        images = images.astype(np.uint8)
    if labels.ndim != 1:
        raise CganError(f"labels must have shape (N,), got {labels.shape}")
    if len(labels) != len(images):
        raise CganError(f"{len(images)} images but {len(labels)} labels; there must be one label per image")
    if not np.issubdtype(labels.dtype, np.integer):
        raise CganError(f"labels must be integers (class indices), got {labels.dtype}")
    if labels.min() < 0 or labels.max() >= spec.num_classes:
        raise CganError(
            f"labels range from {labels.min()} to {labels.max()}, but {spec.name} has classes "
            f"0-{spec.num_classes - 1}"
        )
    return images, labels.astype(np.int64)


def _check_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise CganError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


# --- real data and its cached features ----------------------------------------------------------


@functools.lru_cache(maxsize=4)
def _split(dataset: str, split: str, data_dir: str | None) -> tuple[np.ndarray, np.ndarray]:
    images, labels = data.load(dataset, split, data_dir)
    return images.numpy(), labels.numpy()


# evaluator -> {data_dir: features of the whole test split}; dies with the evaluator.
_TEST_FEATURES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _test_features(evaluator: Evaluator, data_dir: str | None) -> torch.Tensor:
    cached = _TEST_FEATURES.setdefault(evaluator, {})
    if data_dir not in cached:
        cached[data_dir] = embed(evaluator, _split(evaluator.dataset, "test", data_dir)[0])[0]
    return cached[data_dir]


def choose_per_class(labels: np.ndarray, counts: np.ndarray, seed: int, stream: int) -> np.ndarray:
    """Indices of up to counts[c] items of each class c, chosen at random from `seed` (and `stream`, so
    that different uses of one seed draw independently)."""
    rng = np.random.default_rng([seed, stream])
    chosen = []
    for cls, count in enumerate(counts):
        members = np.flatnonzero(labels == cls)
        # Permute every class, even those not asked for, so one class's choice does not shift another's.
        chosen.append(rng.permutation(members)[:count])
    return np.sort(np.concatenate(chosen))


# --- classification accuracy score ----------------------------------------------------------------


def _cas_net(num_classes: int) -> nn.Module:
    """A LeNet-sized classifier: CAS needs a fixed, fast recipe, not the best accuracy."""
    return nn.Sequential(
        nn.Conv2d(1, 16, 5),
        nn.ReLU(),
        nn.MaxPool2d(2),  # 12x12
        nn.Conv2d(16, 32, 5),
        nn.ReLU(),
        nn.MaxPool2d(2),  # 4x4
        nn.Flatten(),
        nn.Linear(32 * 16, 64),
        nn.ReLU(),
        nn.Linear(64, num_classes),
    )


def train_and_test_classifier(
    images: np.ndarray, labels: np.ndarray, dataset: str, seed: int, data_dir: str | None
) -> float:
    """Train `_cas_net` on (images, labels) for CAS_EPOCHS; its accuracy on the whole real test split."""
    spec = data.get_spec(dataset)
    images, labels = torch.from_numpy(images), torch.from_numpy(labels)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = _cas_net(spec.num_classes)
    order = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(net.parameters(), lr=2e-3)
    net.train()
    for _ in range(CAS_EPOCHS):
        for batch in torch.randperm(len(images), generator=order).split(CAS_BATCH):
            loss = F.cross_entropy(net(to_input(images[batch])), labels[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    test_images, test_labels = _split(spec.name, "test", data_dir)
    return _accuracy(net, torch.from_numpy(test_images), torch.from_numpy(test_labels))


@functools.lru_cache(maxsize=16)
def _cas_real(dataset: str, counts: tuple[int, ...], seed: int, data_dir: str | None) -> float:
    """CAS of real train images, as many per class as `counts`: the floor for `cas`. Cached, as the
    generated images and the floor of one `cgan evaluate` call both need it."""
    train_images, train_labels = _split(dataset, "train", data_dir)
    chosen = choose_per_class(train_labels, np.array(counts), seed, stream=1)
    return train_and_test_classifier(train_images[chosen], train_labels[chosen], dataset, seed, data_dir)


# --- Inception FID (optional) -------------------------------------------------------------------


def _torch_fidelity():
    try:
        import torch_fidelity
    except ImportError:
        raise CganError(
            "the Inception FID needs the optional package torch-fidelity (pip install torch-fidelity) and "
            "its Inception weights, which it downloads on first use; nothing else in cgan needs it"
        ) from None
    return torch_fidelity


def inception_fid(images: np.ndarray, real_images: np.ndarray) -> float:
    """Inception FID via the optional torch-fidelity package; a CganError when it cannot run here."""
    torch_fidelity = _torch_fidelity()

    class Gray(torch.utils.data.Dataset):  # torch-fidelity reads uint8 (3, H, W) tensors
        def __init__(self, pixels):
            self.pixels = torch.from_numpy(pixels)

        def __len__(self):
            return len(self.pixels)

        def __getitem__(self, i):
            return self.pixels[i].expand(3, -1, -1)

    try:
        result = torch_fidelity.calculate_metrics(
            input1=Gray(images),
            input2=Gray(real_images),
            fid=True,
            verbose=False,
            cuda=torch.cuda.is_available(),
        )
    except Exception as exc:  # a missing weights download surfaces as many different exception types
        raise CganError(
            f"torch-fidelity could not compute the Inception FID ({type(exc).__name__}: {exc}); "
            "its Inception weights must be in its cache or downloadable"
        ) from None
    return float(result["frechet_inception_distance"])


# --- the metrics ------------------------------------------------------------------------------


def _feature_metrics(
    features: torch.Tensor,
    predictions: np.ndarray,
    labels: np.ndarray,
    ref_features: torch.Tensor,
    ref_labels: np.ndarray,
    num_classes: int,
) -> dict:
    correct = predictions == labels
    per_class_accuracy, per_class_fd = [], []
    for cls in range(num_classes):
        mine, theirs = labels == cls, ref_labels == cls
        per_class_accuracy.append(float(correct[mine].mean()) if mine.any() else None)
        if mine.sum() >= 2 and theirs.sum() >= 2:
            stats = gaussian_stats(features[mine]) + gaussian_stats(ref_features[theirs])
            per_class_fd.append(frechet_distance(*stats))
        else:
            per_class_fd.append(None)
    present = [fd for fd in per_class_fd if fd is not None]
    precision, recall = precision_recall(ref_features, features)
    return {
        "class_accuracy": float(correct.mean()),
        "per_class_accuracy": per_class_accuracy,
        "fd_evaluator": frechet_distance(*gaussian_stats(features), *gaussian_stats(ref_features)),
        "fd_evaluator_per_class": per_class_fd,
        "fd_evaluator_per_class_mean": float(np.mean(present)) if present else None,
        "precision": precision,
        "recall": recall,
    }


def _evaluate(
    images: np.ndarray,
    labels: np.ndarray,
    spec: data.DatasetSpec,
    seed: int,
    evaluator: Evaluator,
    data_dir: str | None,
    cas: bool,
    inception: bool = False,
    real_train: bool = False,
) -> dict:
    """All metrics of checked images; `real_train` says they are the real train images that `_cas_real`
    would choose, so their CAS is that (cached) number."""
    if evaluator.dataset != spec.name:
        raise CganError(f"this evaluator is for {evaluator.dataset!r}, the images are {spec.name!r}")
    if inception:
        _torch_fidelity()  # fail before the slow part, not after it
    counts = np.bincount(labels, minlength=spec.num_classes)
    test_images, test_labels = _split(spec.name, "test", data_dir)
    reference = choose_per_class(test_labels, counts, seed, stream=0)
    features, predictions = embed(evaluator, images)
    result = {
        "dataset": spec.name,
        "num_images": len(images),
        "seed": seed,
        "evaluator_test_accuracy": evaluator.meta.get("test_accuracy"),
        **_feature_metrics(
            features,
            predictions,
            labels,
            _test_features(evaluator, data_dir)[reference],
            test_labels[reference],
            spec.num_classes,
        ),
    }
    if cas:
        floor = _cas_real(spec.name, tuple(counts.tolist()), seed, data_dir)
        if real_train:
            result["cas"] = floor
        else:
            result["cas"] = train_and_test_classifier(images, labels, spec.name, seed, data_dir)
        result["cas_real"] = floor
    if inception:
        result["fid_inception"] = inception_fid(images, test_images[reference])
    return result


def _as_key(data_dir: str | os.PathLike | None) -> str | None:
    return None if data_dir is None else str(data_dir)


def evaluate_images(
    images: np.ndarray,
    labels: np.ndarray,
    dataset: str,
    seed: int = 0,
    cas: bool = True,
    evaluator: Evaluator | None = None,
    data_dir: str | os.PathLike | None = None,
    inception: bool = False,
) -> dict:
    """Every metric (see the module docstring) of uint8 images (N, 28, 28) with labels (N,)."""
    spec = data.get_spec(dataset)
    images, labels = check_samples(images, labels, spec)
    seed = _check_seed(seed)
    evaluator = evaluator if evaluator is not None else default_evaluator(spec.name)
    return _evaluate(images, labels, spec, seed, evaluator, _as_key(data_dir), cas, inception)


def _check_per_class(per_class: int) -> int:
    if isinstance(per_class, bool) or not isinstance(per_class, int | np.integer) or per_class < 2:
        raise CganError(f"per_class must be an integer of at least 2, got {per_class!r}")
    return int(per_class)


def evaluate_generator(
    generator,
    per_class: int = 1000,
    seed: int = 0,
    cas: bool = True,
    evaluator: Evaluator | None = None,
    data_dir: str | os.PathLike | None = None,
    inception: bool = False,
) -> dict:
    """Every metric of `per_class` images of each class from a `TrainedGenerator`, noise drawn from `seed`."""
    spec = data.get_spec(generator.dataset)
    if len(generator.classes) != spec.num_classes:
        raise CganError(
            f"{generator.source} has {len(generator.classes)} classes, {spec.name} has {spec.num_classes}"
        )
    labels = np.repeat(np.arange(spec.num_classes, dtype=np.int64), _check_per_class(per_class))
    images = generator.generate(labels.tolist(), seed=_check_seed(seed))
    return evaluate_images(images, labels, spec.name, seed, cas, evaluator, data_dir, inception)


def evaluate_real(
    dataset: str,
    per_class: int = 1000,
    seed: int = 0,
    data_dir: str | os.PathLike | None = None,
    cas: bool = True,
    evaluator: Evaluator | None = None,
    counts: list[int] | None = None,
) -> dict:
    """The metrics of real TRAIN images (`per_class` of each class, chosen with `seed`) against the real
    test split: the floor a generator is compared with. `counts` (one per class) replaces `per_class`
    to match an evaluated set whose classes are not balanced."""
    spec = data.get_spec(dataset)
    seed, data_dir = _check_seed(seed), _as_key(data_dir)
    if counts is None:
        counts = [_check_per_class(per_class)] * spec.num_classes
    train_images, train_labels = _split(spec.name, "train", data_dir)
    chosen = choose_per_class(train_labels, np.array(counts), seed, stream=1)
    evaluator = evaluator if evaluator is not None else default_evaluator(spec.name)
    images, labels = train_images[chosen], train_labels[chosen]
    return _evaluate(images, labels, spec, seed, evaluator, data_dir, cas, real_train=True)


QUALITY_KEYS = ("class_accuracy", "fd_evaluator", "fd_evaluator_per_class_mean", "precision", "recall")


@torch.inference_mode()
def quality_metrics(
    generator_net: nn.Module,
    dataset: str,
    latent_dim: int,
    per_class: int = 200,
    seed: int = 0,
    device: str | torch.device = "cpu",
    data_dir: str | os.PathLike | None = None,
) -> dict[str, float]:
    """The QUALITY_KEYS metrics of a generator network during training: fast (no CAS), flat floats.

    Draws `per_class` images of each class from noise seeded by `seed` (on the CPU, so the numbers do not
    depend on the device), in eval mode; the network's mode and the global random state are left as found.
    The evaluator and the real test features are loaded once per process and device.
    """
    spec = data.get_spec(dataset)
    count = _check_per_class(per_class)
    labels = np.repeat(np.arange(spec.num_classes, dtype=np.int64), count)
    noise = torch.randn(len(labels), latent_dim, generator=torch.Generator().manual_seed(_check_seed(seed)))
    was_training = generator_net.training
    generator_net.eval()
    try:
        chunks = []
        for z, y in zip(noise.split(1000), torch.from_numpy(labels).split(1000), strict=True):
            chunks.append(to_uint8(generator_net(z.to(device), y.to(device))))
    finally:
        generator_net.train(was_training)
    images = np.concatenate(chunks)
    evaluator = default_evaluator(spec.name, str(torch.device(device)))
    result = _evaluate(images, labels, spec, seed, evaluator, _as_key(data_dir), cas=False)
    return {key: result[key] for key in QUALITY_KEYS}


# --- reading sample files ---------------------------------------------------------------------


def read_npz(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """`images` and `labels` from an .npz as `cgan generate --out x.npz` writes it (never unpickled)."""
    path = Path(path)
    if not path.is_file():
        raise CganError(f"{path} does not exist")
    if not zipfile.is_zipfile(path):
        raise CganError(f"{path} is not an .npz file (an .npz is a zip archive of arrays)")
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [key for key in ("images", "labels") if key not in archive.files]
            if missing:
                raise CganError(
                    f"{path} has no {' or '.join(missing)} array (it has: {', '.join(archive.files) or 'none'}); "
                    "expected images (N, 28, 28) uint8 and labels (N,)"
                )
            return archive["images"], archive["labels"]
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        # allow_pickle=False turns object arrays into ValueError instead of unpickling them.
        raise CganError(f"{path} is not a readable .npz of plain arrays ({exc})") from None


def _png_label(path: Path, folder: Path, spec: data.DatasetSpec) -> int:
    """The class of a PNG: its subfolder's name, or the part of its name after the last "_"."""
    name = path.parent.name if path.parent != folder else path.stem.rpartition("_")[2]
    try:
        return spec.class_index(name)
    except CganError:
        raise CganError(
            f"cannot tell the class of {path}: {name!r} is not a {spec.name} class; name files "
            f"<anything>_<class>.png (e.g. 00012_{spec.classes[-1]}.png) or put them in folders named by class"
        ) from None


def _png_pixels(path: Path) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as picture:
            pixels = np.asarray(picture.convert("L"))
    except (OSError, UnidentifiedImageError) as exc:
        raise CganError(f"{path} is not a readable PNG ({exc})") from None
    height, width = pixels.shape
    # `cgan generate --scale S` enlarges by pixel repetition; every S-th pixel undoes it exactly.
    scale = height // IMAGE_SIZE
    if height != width or scale < 1 or height % IMAGE_SIZE:
        raise CganError(f"{path} is {width}x{height}; expected 28x28 (or a whole multiple of it)")
    return pixels[::scale, ::scale]


def read_png_folder(folder: str | os.PathLike, dataset: str) -> tuple[np.ndarray, np.ndarray]:
    """Images and labels from PNGs named `<anything>_<class>.png`, or in subfolders named by class."""
    folder = Path(folder)
    spec = data.get_spec(dataset)
    paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() == ".png" and p.is_file())
    if not paths:
        raise CganError(f"{folder} holds no .png files")
    labels = np.array([_png_label(p, folder, spec) for p in paths], dtype=np.int64)
    return np.stack([_png_pixels(p) for p in paths]), labels
