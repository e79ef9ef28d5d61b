"""`cgan evaluate --plot`: the confusion matrix the evaluation returns, the PNG drawn from it, and the
--plot paths refused before the evaluation starts."""

import json

import numpy as np
import pytest
from PIL import Image

import cgan
from cgan import evaluation
from cgan.cli import main
from cgan.data import resolve_dataset
from cgan.errors import CganError
from cgan.evaluation.metrics import choose_per_class, confusion_matrix

pytestmark = pytest.mark.usefixtures("one_thread")


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


def test_cli_plot_of_a_run(tiny_run, mnist_dir, tmp_path, capsys):
    out = tmp_path / "evaluation.png"
    argv = ["evaluate", str(tiny_run), "--per-class", "10", "--no-cas", "--data-dir", mnist_dir]
    assert main([*argv, "--json", "--plot", str(out)]) == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out)  # the note about the plot goes to stderr
    assert f"wrote {out}" in captured.err
    check_confusion(result)
    check_confusion(result["floor"])
    assert [path.name for path in tmp_path.iterdir()] == ["evaluation.png"]  # no temporary left behind

    with Image.open(out) as picture:
        assert picture.format == "PNG"
        assert 1000 <= picture.width <= 2000 and 500 <= picture.height <= 1000
        picture.load()
    assert 20_000 < out.stat().st_size < 300_000

    # The Python API draws the same picture from the same numbers.
    title = f"mnist: {tiny_run}, 100 images, seed 0"
    assert cgan.evaluation_plot_png(result, title=title) == out.read_bytes()
    assert "evaluation_plot_png" in cgan.__all__

    assert main([*argv, "--no-floor", "--plot", str(out)]) == 0  # the table, then the note
    assert capsys.readouterr().out.rstrip().endswith(f"wrote {out}: per-class accuracy and confusion matrix")


def test_the_plot_needs_an_evaluation_result():
    with pytest.raises(CganError, match="the plot needs what evaluate_source"):
        cgan.evaluation_plot_png({"class_accuracy": 0.5, "fd_evaluator": 3.0})


@pytest.mark.parametrize(
    "plot, message",
    [
        ("missing/plot.png", "--plot missing/plot.png: the folder missing does not exist"),
        ("plot.jpg", "--plot must end in .png, got 'plot.jpg'"),
        ("", "--plot must end in .png, got ''"),
        ("a-file.txt/plot.png", "the folder a-file.txt is not a folder"),
        ("folder.png", "--plot folder.png is a folder; name a .png file in it"),
    ],
)
def test_bad_plot_paths_fail_in_one_line_before_the_evaluation(
    plot, message, tiny_run, tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a-file.txt").write_text("x")
    (tmp_path / "folder.png").mkdir()
    before = sorted(tmp_path.rglob("*"))
    assert main(["evaluate", str(tiny_run), "--per-class", "10", "--no-cas", "--plot", plot]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # nothing was measured
    assert captured.err.startswith("cgan: error:") and message in captured.err
    assert captured.err.count("\n") == 1
    assert sorted(tmp_path.rglob("*")) == before
