"""The Classification Accuracy Score (Ravuri & Vinyals 2019): a fresh small classifier trained on labelled
images, its accuracy on the whole real test split; and the same recipe on real train images, the floor."""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..data import Dataset
from ..images import to_float
from ..progress import bar
from .evaluator import accuracy
from .metrics import choose_per_class

CAS_EPOCHS = 4
CAS_BATCH = 64


def _cas_net(num_classes: int, channels: int) -> nn.Module:
    """A LeNet-sized classifier: CAS needs a fixed, fast recipe, not the best accuracy."""
    return nn.Sequential(
        nn.Conv2d(channels, 16, 5),
        nn.ReLU(),
        nn.MaxPool2d(2),  # 12x12 for 28x28 images
        nn.Conv2d(16, 32, 5),
        nn.ReLU(),
        nn.AdaptiveMaxPool2d(4),  # 4x4 (at 28x28 the same as a 2x2 max pool)
        nn.Flatten(),
        nn.Linear(32 * 16, 64),
        nn.ReLU(),
        nn.Linear(64, num_classes),
    )


def classifier_steps(count: int, steps: int | None = None) -> int:
    """How many batches the classifier trains on `count` images: `steps`, or CAS_EPOCHS passes' worth."""
    return CAS_EPOCHS * -(-count // CAS_BATCH) if steps is None else steps


def classifier_batches(count: int, seed: int, steps: int | None = None) -> Iterator[torch.Tensor]:
    """The classifier's batches, as indices into `count` images: CAS_EPOCHS passes over them, each in a fresh
    order drawn from `seed` (the last batch of a pass may be smaller), or, with `steps`, exactly that many
    batches, as many passes as they take."""
    order = torch.Generator().manual_seed(seed)
    passes = (torch.randperm(count, generator=order).split(CAS_BATCH) for _ in itertools.count())
    return itertools.islice(itertools.chain.from_iterable(passes), classifier_steps(count, steps))


def train_and_test_classifier(
    images: np.ndarray, labels: np.ndarray, dataset: Dataset, seed: int, steps: int | None = None
) -> float:
    """Train `_cas_net` on (images, labels) for CAS_EPOCHS, or for `steps` batches (to compare sets of
    different sizes at the same number of optimisation steps); its accuracy on the whole real test split."""
    train_images, train_labels = torch.from_numpy(images), torch.from_numpy(labels)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = _cas_net(dataset.num_classes, dataset.image_shape[0])
    optimizer = torch.optim.Adam(net.parameters(), lr=2e-3)
    net.train()
    with bar(classifier_steps(len(train_images), steps), "CAS classifier", unit="step") as progress:
        for batch in classifier_batches(len(train_images), seed, steps):
            loss = F.cross_entropy(net(to_float(train_images[batch])), train_labels[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            progress.update(1)
    return accuracy(net, *dataset.split("test"))


@functools.lru_cache(maxsize=16)
def cas_real(dataset: Dataset, counts: tuple[int, ...], seed: int) -> float:
    """CAS of real train images, as many per class as `counts`: the floor for `cas`. Cached, as the
    generated images and the floor of one `cgan evaluate` call both need it."""
    train_images, train_labels = dataset.split("train")
    chosen = choose_per_class(train_labels, np.array(counts), seed, stream=1)
    return train_and_test_classifier(train_images[chosen], train_labels[chosen], dataset, seed)
