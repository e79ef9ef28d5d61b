"""The evaluator and the metrics, on cases whose answer is known, plus bad input and the CLI."""

import json
import math

import numpy as np
import pytest
import torch

from cgan import evaluation as evaluate
from cgan.cli import main
from cgan.data import get_spec, resolve_dataset
from cgan.data.dataset import SHIPPED_EVALUATORS
from cgan.errors import CganError, CheckpointError
from cgan.evaluation import api, cas, inception, samples
from cgan.evaluation import metrics as stats
from cgan.images import save_npz, save_png, to_float

PER_CLASS = 100

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def real(mnist_dir):
    """The floor (real train vs real test) with CAS, and the train images it used."""
    metrics = evaluate.evaluate_real("mnist", per_class=PER_CLASS, data_dir=mnist_dir)
    train_images, train_labels = resolve_dataset("mnist", mnist_dir).split("train")
    chosen = stats.choose_per_class(train_labels, [PER_CLASS] * 10, seed=0, stream=1)
    return metrics, train_images[chosen], train_labels[chosen]


def balanced_labels(per_class=PER_CLASS):
    return np.repeat(np.arange(10, dtype=np.int64), per_class)


# --- the shipped evaluators -------------------------------------------------------------------


@pytest.mark.parametrize("dataset, floor", [("mnist", 0.993), ("fashion-mnist", 0.92)])
def test_shipped_evaluator_has_the_accuracy_it_records(shared_data, dataset, floor):
    path = SHIPPED_EVALUATORS / f"{dataset}.safetensors"
    assert path.stat().st_size < 2_000_000
    net = evaluate.default_evaluator(dataset)
    recorded = net.meta["test_accuracy"]
    assert recorded >= floor
    assert f"{recorded:.2%}" in (SHIPPED_EVALUATORS / "README.md").read_text()
    data_dir = str(shared_data / dataset)
    with torch.inference_mode():  # the cached test-split features, shared with the other tests
        predictions = net.head(api._test_features(net, resolve_dataset(dataset, data_dir))).argmax(1).numpy()
    labels = resolve_dataset(dataset, data_dir).split("test")[1]
    assert (predictions == labels).mean() == pytest.approx(recorded, abs=1e-3)


def test_train_evaluator_writes_a_loadable_file(tmp_path, mnist_dir):
    meta = evaluate.train_evaluator("mnist", mnist_dir, epochs=1, out=tmp_path, max_images=256)
    assert {"test_accuracy", "epochs", "seed", "command", "wall_s"} <= set(meta)
    net = evaluate.load_evaluator("mnist", tmp_path / "mnist.safetensors")
    assert net.meta == meta
    assert net.features(to_float(np.zeros((2, 28, 28), np.uint8))).shape == (2, 128)


def test_load_evaluator_rejects_missing_and_foreign_files(tmp_path):
    with pytest.raises(CheckpointError, match="cgan train-evaluator --dataset mnist"):
        evaluate.load_evaluator("mnist", tmp_path / "nothing.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(CheckpointError, match="not a readable safetensors"):
        evaluate.load_evaluator("mnist", tmp_path / "junk.safetensors")
    with pytest.raises(CheckpointError, match="for 'fashion-mnist', not for 'mnist'"):
        evaluate.load_evaluator("mnist", SHIPPED_EVALUATORS / "fashion-mnist.safetensors")


# --- Frechet distance and precision/recall on numbers ----------------------------------------


def test_frechet_distance_of_identical_gaussians_is_zero():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(500, 16)) @ rng.normal(size=(16, 16))
    mu, sigma = stats.gaussian_stats(features)
    assert stats.frechet_distance(mu, sigma, mu, sigma) == pytest.approx(0, abs=1e-8)


def test_frechet_distance_matches_closed_forms():
    # Diagonal covariances: ||mu1 - mu2||^2 + sum (s1 - s2)^2 over the standard deviations.
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    sd1, sd2 = np.array([1.0, 2.0, 3.0]), np.array([2.0, 2.0, 1.0])
    expected = 5 + 1 + 0 + 4
    assert stats.frechet_distance(mu1, np.diag(sd1**2), mu2, np.diag(sd2**2)) == pytest.approx(expected)
    # General SPD matrices: tr (S1 S2)^(1/2) is the sum of the square roots of S1 S2's eigenvalues.
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(2, 8, 8))
    s1, s2 = a @ a.T + np.eye(8), b @ b.T + np.eye(8)
    trace_root = np.sqrt(np.linalg.eigvals(s1 @ s2).real).sum()
    expected = np.trace(s1) + np.trace(s2) - 2 * trace_root
    assert stats.frechet_distance(np.zeros(8), s1, np.zeros(8), s2) == pytest.approx(expected, rel=1e-9)


def test_precision_recall_of_same_and_far_apart_sets():
    points = torch.randn(300, 8, generator=torch.Generator().manual_seed(0))
    assert stats.precision_recall(points, points) == (1.0, 1.0)
    assert stats.precision_recall(points, points + 100) == (0.0, 0.0)
    # Real data in two far-apart clusters, generated data in one of them: precise, but recalls half.
    two_clusters = torch.cat([points, points + 100])
    assert stats.precision_recall(two_clusters, points) == (1.0, 0.5)


def test_precision_recall_chunks_give_the_same_answer(monkeypatch):
    generator = torch.Generator().manual_seed(0)
    real, fake = torch.randn(500, 8, generator=generator), torch.randn(400, 8, generator=generator) + 0.5
    whole = stats.precision_recall(real, fake)
    monkeypatch.setattr(stats, "PR_CHUNK", 64)
    assert stats.precision_recall(real, fake) == whole


# --- metrics on images whose answer is known -----------------------------------------------------


def test_real_train_images_sit_at_the_floor(real):
    metrics, _, _ = real
    assert metrics["num_images"] == 10 * PER_CLASS
    assert metrics["class_accuracy"] > 0.98
    assert min(metrics["per_class_accuracy"]) > 0.9
    assert metrics["fd_evaluator"] < 2
    assert metrics["precision"] > 0.75 and metrics["recall"] > 0.75
    assert metrics["cas"] == metrics["cas_real"] > 0.8


def test_real_images_through_evaluate_images_give_the_floor(real, mnist_dir):
    metrics, images, labels = real
    again = evaluate.evaluate_images(images, labels, "mnist", data_dir=mnist_dir)
    assert again == metrics  # including a CAS trained on these images: the same recipe as cas_real


def test_uniform_noise_is_far_from_everything(real, mnist_dir):
    noise = np.random.default_rng(0).integers(0, 256, (10 * PER_CLASS, 28, 28), dtype=np.uint8)
    metrics = evaluate.evaluate_images(noise, balanced_labels(), "mnist", data_dir=mnist_dir)
    assert metrics["class_accuracy"] < 0.2
    assert metrics["fd_evaluator"] > 50 * real[0]["fd_evaluator"]
    assert metrics["precision"] < 0.01 and metrics["recall"] < 0.01
    assert metrics["cas"] < 0.3 < metrics["cas_real"]


def test_shuffled_labels_fail_the_classifier_but_not_the_distribution(real, mnist_dir):
    metrics, images, labels = real
    shuffled = np.random.default_rng(0).permutation(labels)
    wrong = evaluate.evaluate_images(images, shuffled, "mnist", cas=False, data_dir=mnist_dir)
    assert wrong["class_accuracy"] < 0.2
    for key in ("fd_evaluator", "precision", "recall"):
        assert wrong[key] == metrics[key]
    assert wrong["fd_evaluator_per_class_mean"] > 10 * metrics["fd_evaluator_per_class_mean"]


def test_a_collapsed_generator_is_accurate_but_recalls_nothing(real, mnist_dir):
    metrics, images, labels = real
    one_each = np.stack([images[np.flatnonzero(labels == c)[0]] for c in range(10)])
    collapsed = np.repeat(one_each, PER_CLASS, axis=0)
    result = evaluate.evaluate_images(collapsed, balanced_labels(), "mnist", cas=False, data_dir=mnist_dir)
    assert result["class_accuracy"] > 0.9
    assert result["recall"] < 0.02
    assert result["fd_evaluator_per_class_mean"] > 5 * metrics["fd_evaluator_per_class_mean"]


def test_same_seed_same_numbers_other_seed_other_choice(mnist_dir):
    first = evaluate.evaluate_real("mnist", per_class=50, seed=3, data_dir=mnist_dir)
    assert evaluate.evaluate_real("mnist", per_class=50, seed=3, data_dir=mnist_dir) == first
    cas.cas_real.cache_clear()  # the CAS itself, not only its cache, must repeat
    assert evaluate.evaluate_real("mnist", per_class=50, seed=3, data_dir=mnist_dir) == first
    assert evaluate.evaluate_real("mnist", per_class=50, seed=4, data_dir=mnist_dir) != first


def test_unbalanced_sets_are_compared_with_a_matching_reference(real, mnist_dir):
    _, images, labels = real
    sevens = labels == 7
    metrics = evaluate.evaluate_images(images[sevens], labels[sevens], "mnist", cas=False, data_dir=mnist_dir)
    assert metrics["num_images"] == PER_CLASS
    assert metrics["per_class_accuracy"][7] > 0.9
    assert metrics["per_class_accuracy"][0] is None and metrics["fd_evaluator_per_class"][0] is None
    assert metrics["fd_evaluator"] == metrics["fd_evaluator_per_class"][7]


def test_classifier_batches_cover_each_pass_once_and_stop_at_steps():
    default = [batch.tolist() for batch in cas.classifier_batches(100, seed=0)]
    assert [len(b) for b in default] == [cas.CAS_BATCH, 100 - cas.CAS_BATCH] * cas.CAS_EPOCHS
    for start in range(0, len(default), 2):
        assert sorted(default[start] + default[start + 1]) == list(range(100))  # each pass: every image once
    assert default[:2] != default[2:4]  # a fresh order each pass
    longer = [batch.tolist() for batch in cas.classifier_batches(100, seed=0, steps=13)]
    assert len(longer) == 13 and longer[: len(default)] == default
    assert [b.tolist() for b in cas.classifier_batches(100, seed=0, steps=3)] == default[:3]
    assert cas.classifier_steps(100) == len(default) and cas.classifier_steps(100, steps=13) == 13


def test_classifier_trained_for_steps_is_the_cas_recipe_at_its_own_length(real, mnist_dir):
    _, images, labels = real
    dataset = resolve_dataset("mnist", mnist_dir)
    recipe = cas.train_and_test_classifier(images, labels, dataset, seed=0)
    steps = cas.classifier_steps(len(images))
    assert cas.train_and_test_classifier(images, labels, dataset, seed=0, steps=steps) == recipe
    assert cas.train_and_test_classifier(images, labels, dataset, seed=0, steps=5) < recipe

# --- generators -------------------------------------------------------------------------------


@pytest.fixture
def run_dir(tiny_run):
    return tiny_run


def test_evaluate_generator(run_dir, mnist_dir):
    from cgan.generation import load_generator

    generator = load_generator(run_dir)
    metrics = evaluate.evaluate_generator(generator, per_class=20, cas=False, data_dir=mnist_dir)
    assert metrics["num_images"] == 200 and metrics["dataset"] == "mnist"
    assert 0 <= metrics["class_accuracy"] <= 1 and metrics["fd_evaluator"] > 0
    assert metrics == evaluate.evaluate_generator(generator, per_class=20, cas=False, data_dir=mnist_dir)


def test_quality_metrics_leave_the_training_state_alone(run_dir, mnist_dir):
    from cgan.generation import load_generator

    net = load_generator(run_dir).net.train()
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    metrics = evaluate.quality_metrics(net, "mnist", latent_dim=16, per_class=20, data_dir=mnist_dir)
    assert torch.rand(1) == expected_next  # the trainer's random stream is untouched
    assert net.training
    assert set(metrics) == set(evaluate.QUALITY_KEYS)
    assert all(isinstance(v, float) and math.isfinite(v) for v in metrics.values())
    # The same numbers as the full evaluation of the same images.
    full = evaluate.evaluate_generator(load_generator(run_dir), per_class=20, cas=False, data_dir=mnist_dir)
    assert metrics["class_accuracy"] == full["class_accuracy"]


# --- bad input --------------------------------------------------------------------------------

GOOD = np.zeros((20, 28, 28), np.uint8)
LABELS = np.arange(20, dtype=np.int64) % 10


@pytest.mark.parametrize(
    "images, labels, message",
    [
        (GOOD.astype(np.float32) / 255, LABELS, "must be uint8 pixels 0-255, got float32"),
        (GOOD.astype(np.int64) + 300, LABELS, "values must be 0-255"),
        (GOOD[:, None], LABELS, r"shape \(N, 28, 28\), got \(20, 1, 28, 28\) \(drop the channel axis"),
        (GOOD[0], LABELS, r"shape \(N, 28, 28\), got \(28, 28\)"),
        (np.zeros((20, 32, 32), np.uint8), LABELS, r"got \(20, 32, 32\)"),
        (GOOD[:0], LABELS[:0], "no images"),
        (GOOD, LABELS[:19], "20 images but 19 labels"),
        (GOOD, LABELS + 1, "labels range from 1 to 10, but mnist has classes 0-9"),
        (GOOD, LABELS - 1, "labels range from -1 to 8"),
        (GOOD, LABELS.astype(np.float64), "labels must be integers"),
        (GOOD, LABELS[:, None], r"labels must have shape \(N,\)"),
    ],
)
def test_bad_images_and_labels_are_named(images, labels, message):
    with pytest.raises(CganError, match=message):
        samples.check_samples(images, labels, get_spec("mnist"))


def test_bad_seed_and_per_class():
    for seed in (-1, 2**63, 1.5, True):
        with pytest.raises(CganError, match=r"seed must be an integer from 0 to 2\*\*63 - 1"):
            evaluate.evaluate_images(GOOD, LABELS, "mnist", seed=seed)
    with pytest.raises(CganError, match="per_class must be an integer of at least 2"):
        evaluate.evaluate_real("mnist", per_class=1)


def test_bad_npz_files(tmp_path):
    with pytest.raises(CganError, match="does not exist"):
        evaluate.read_npz(tmp_path / "missing.npz")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(CganError, match="text.npz is not an .npz file"):
        evaluate.read_npz(tmp_path / "text.npz")
    np.save(tmp_path / "array.npy", GOOD)
    with pytest.raises(CganError, match="array.npy is not an .npz file"):
        evaluate.read_npz(tmp_path / "array.npy")
    np.savez(tmp_path / "nolabels.npz", images=GOOD)
    with pytest.raises(CganError, match="has no labels array"):
        evaluate.read_npz(tmp_path / "nolabels.npz")
    np.savez(tmp_path / "empty.npz")
    with pytest.raises(CganError, match="has no images or labels array"):
        evaluate.read_npz(tmp_path / "empty.npz")
    np.savez(tmp_path / "objects.npz", images=np.array([GOOD, None], dtype=object), labels=LABELS)
    with pytest.raises(CganError, match="not a readable .npz"):
        evaluate.read_npz(tmp_path / "objects.npz")


def test_bad_png_folders(tmp_path):
    with pytest.raises(CganError, match="holds no .png files"):
        evaluate.read_png_folder(tmp_path, "mnist")
    save_png(tmp_path / "00001_giraffe.png", GOOD[0])
    with pytest.raises(CganError, match="'giraffe' is not a mnist class"):
        evaluate.read_png_folder(tmp_path, "mnist")
    (tmp_path / "00001_giraffe.png").unlink()
    save_png(tmp_path / "00001_3.png", np.zeros((30, 30), np.uint8))
    with pytest.raises(CganError, match="is 30x30; expected 28x28"):
        evaluate.read_png_folder(tmp_path, "mnist")


def test_png_folders_by_name_by_subfolder_and_scaled(tmp_path):
    image = np.random.default_rng(0).integers(0, 256, (28, 28), dtype=np.uint8)
    save_png(tmp_path / "a" / "00003_ankle-boot.png", image)
    save_png(tmp_path / "a" / "00004_t-shirt.png", image, scale=3)
    save_png(tmp_path / "b" / "sneaker" / "x.png", image)
    images, labels = evaluate.read_png_folder(tmp_path / "a", "fashion-mnist")
    assert labels.tolist() == [9, 0] and (images == image).all()
    assert evaluate.read_png_folder(tmp_path / "b", "fashion-mnist")[1].tolist() == [7]


def test_inception_fid_says_how_to_get_it(monkeypatch, tmp_path, capsys):
    import builtins

    real_import = builtins.__import__

    def no_fidelity(name, *args, **kwargs):
        if name == "torch_fidelity":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_fidelity)
    with pytest.raises(CganError, match="pip install torch-fidelity.*nothing else in cgan needs it"):
        inception.inception_fid(GOOD, GOOD)
    save_npz(tmp_path / "samples.npz", GOOD, LABELS)
    assert main(["evaluate", str(tmp_path / "samples.npz"), "--dataset", "mnist", "--inception"]) == 2
    assert "pip install torch-fidelity" in capsys.readouterr().err


# --- the command line -------------------------------------------------------------------------


def test_cli_table_and_json_for_a_run(run_dir, mnist_dir, capsys):
    assert main(["evaluate", str(run_dir), "--per-class", "20", "--no-cas", "--data-dir", mnist_dir]) == 0
    table = capsys.readouterr().out
    assert "generated" in table and "real floor" in table and "fd_evaluator" in table
    assert "per-class accuracy, generated" in table

    argv = ["evaluate", str(run_dir), "--per-class", "20", "--json", "--data-dir", mnist_dir]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["num_images"] == 200 and result["source"].startswith(str(run_dir))
    assert result["floor"]["num_images"] == 200 and "cas" in result and "cas_real" in result
    assert result["cas_real"] == result["floor"]["cas"]


def test_cli_npz_png_folder_and_real(run_dir, mnist_dir, tmp_path, capsys):
    npz = tmp_path / "samples.npz"
    assert main(["generate", str(run_dir), "--all", "--count", "5", "--seed", "1", "--out", str(npz)]) == 0
    pngs = tmp_path / "pngs"
    assert (
        main(["generate", str(run_dir), "--all", "--count", "5", "--seed", "1", "--out-dir", str(pngs)]) == 0
    )
    capsys.readouterr()
    results = []
    for source in (npz, pngs):
        argv = ["evaluate", str(source), "--dataset", "mnist", "--json", "--no-cas", "--data-dir", mnist_dir]
        assert main(argv) == 0
        results.append(json.loads(capsys.readouterr().out))
    assert results[0]["num_images"] == 50
    assert {k: v for k, v in results[0].items() if k not in ("source", "wall_s")} == {
        k: v for k, v in results[1].items() if k not in ("source", "wall_s")
    }

    argv = [
        "evaluate",
        "--dataset",
        "mnist",
        "--real",
        "--per-class",
        "20",
        "--no-cas",
        "--data-dir",
        mnist_dir,
    ]
    assert main(argv) == 0
    assert "real train" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["evaluate", "x.npz"], "say which dataset x.npz holds"),
        (["evaluate"], "give a run folder, an .npz"),
        (["evaluate", "--real"], "--real evaluates real train images"),
        (["evaluate", "x.npz", "--dataset", "mnist"], "x.npz does not exist"),
        (["evaluate", "nowhere", "--dataset", "mnist"], "neither a run folder nor a bundled generator"),
        (
            ["evaluate", "--dataset", "mnist", "--real", "--evaluator", "none.safetensors"],
            "no evaluator weights",
        ),
    ],
)
def test_cli_errors_are_one_line(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.startswith("cgan: error:")


def test_cli_npz_with_bad_content(tmp_path, capsys):
    save_npz(tmp_path / "floats.npz", GOOD.astype(np.float32), LABELS)
    assert main(["evaluate", str(tmp_path / "floats.npz"), "--dataset", "mnist"]) == 2
    assert "must be uint8 pixels 0-255, got float32" in capsys.readouterr().err
