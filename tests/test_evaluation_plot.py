"""`cgan evaluate --plot`: the confusion matrix the evaluation returns, the PNG drawn from it, and the
--plot paths refused before the evaluation starts."""

import numpy as np
import pytest
import torch

from cgan import evaluation
from cgan.data import resolve_dataset
from cgan.evaluation.metrics import choose_per_class, confusion_matrix


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One thread: on a 2-core machine that also runs another job, two threads were 2-10x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def mnist_dir(shared_data):
    return str(shared_data / "mnist")


def check_confusion(result: dict) -> np.ndarray:
    """The confusion rows sum to 1, their diagonal is per_class_accuracy; a class without images is null
    in both. Returns the rows of the classes present."""
    rows = result["confusion"]
    assert len(rows) == len(result["classes"]) == len(result["per_class_accuracy"])
    present = []
    for cls, (row, accuracy) in enumerate(zip(rows, result["per_class_accuracy"], strict=True)):
        if accuracy is None:
            assert row is None
            continue
        assert len(row) == len(result["classes"]) and min(row) >= 0
        assert sum(row) == pytest.approx(1)
        assert row[cls] == pytest.approx(accuracy, abs=1e-12)
        present.append(row)
    return np.array(present)


def test_confusion_matrix_counts_each_requested_class_by_prediction():
    labels = np.array([0, 0, 0, 0, 2, 2], dtype=np.int64)
    predictions = np.array([0, 0, 0, 1, 1, 0], dtype=np.int64)
    assert confusion_matrix(predictions, labels, 3) == [[0.75, 0.25, 0.0], None, [0.5, 0.5, 0.0]]


def test_the_evaluation_returns_the_confusion_of_its_predictions(mnist_dir):
    """Real digits, a third of them relabelled 3 and class 5 left out: the mislabelled ones land in the
    third column, off the diagonal, and the numbers agree with per_class_accuracy."""
    images, labels = resolve_dataset("mnist", mnist_dir).split("train")
    chosen = choose_per_class(labels, np.array([30] * 5 + [0] + [30] * 4), seed=0, stream=0)
    images, labels = images[chosen], labels[chosen].copy()
    relabelled = np.arange(len(labels)) % 3 == 0
    labels[relabelled] = 3
    result = evaluation.evaluate_images(images, labels, "mnist", cas=False, data_dir=mnist_dir)
    check_confusion(result)
    assert result["confusion"][5] is None
    row = np.array(result["confusion"][3])
    assert row[3] < 0.5 and row.sum() - row[3] > 0.5  # most of "3" are other digits
