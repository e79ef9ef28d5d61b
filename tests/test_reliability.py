"""Training and run-folder holes a hostile or clumsy user found (issue 11): each is one clear line now,
and nothing is left half-made."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
import time
import warnings
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest

from cgan.cli import main
from cgan.errors import CganError, CheckpointError
from cgan.run_folder import RunFolder
from cgan.training import TrainConfig, fit
from cgan.training.config import ADDED_LATER, default_of


def test_a_second_run_into_a_busy_folder_is_refused(tiny_config, tmp_path, shared_data):
    run = tmp_path / "run"
    with RunFolder(run).lock():  # what a running `cgan train --out run` holds
        with pytest.raises(CganError, match="in use by another training run"):
            fit(tiny_config(run), progress=False)
    fit(tiny_config(run, epochs=1), progress=False)  # free again once the holder is gone


def test_the_lock_is_held_across_processes(tiny_config, tmp_path, shared_data):
    run = tmp_path / "run"
    holder = subprocess.Popen(
        [sys.executable, "-c", f"from cgan.run_folder import RunFolder\nwith RunFolder({str(run)!r}).lock(): "
         "print('held', flush=True); import time; time.sleep(30)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(CganError, match="in use"):
            fit(tiny_config(run), progress=False)
    finally:
        holder.kill()
        holder.wait()


def test_a_fresh_run_does_not_append_to_a_dead_runs_log(tiny_config, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.csv").write_text("step,epoch\n10,1\n140,14\n")  # killed before its first checkpoint
    fit(tiny_config(run, epochs=1), progress=False)
    steps = RunFolder(run).metrics.read()["step"]
    assert list(steps) == sorted(steps) and steps[0] == 1


def test_temporary_files_of_killed_writes_are_removed(tiny_config, tmp_path):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    leftover = run / "checkpoints" / ".last.safetensors.abc123.tmp"
    leftover.write_bytes(b"x" * 100)
    mine = run / "notes.tmp"  # not one of cgan's temporary names: kept
    mine.write_text("mine")
    fit(tiny_config(run, epochs=1), progress=False)
    assert not leftover.exists() and mine.exists()


def test_weight_files_are_readable_by_others(tiny_run):
    for path in (tiny_run / "generator.safetensors", tiny_run / "checkpoints" / "last.safetensors"):
        assert stat.S_IMODE(path.stat().st_mode) & 0o044 == 0o044, oct(path.stat().st_mode)


def test_a_diverging_run_stops_and_saves_nothing_non_finite(tiny_config, tmp_path):
    run = tmp_path / "run"
    with pytest.raises(CganError, match="diverged.*--lr"):
        fit(tiny_config(run, epochs=1, lr=3e38), progress=False)  # finite, but the weights overflow
    assert not (run / "checkpoints" / "last.safetensors").exists()
    assert not (run / "generator.safetensors").exists()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--lr", "inf"], "--lr must be a finite number"),
        (["--lr", "nan"], "--lr must be a finite number"),
        (["--seed", "18446744073709551616"], "--seed must lie in"),
        (["--device", "meta"], "cpu or cuda"),
        (["--g-width", "100000"], "--g-width must be at most 1024"),  # asked for 1.3 TB
        (["--latent-dim", "100000000"], "--latent-dim must be at most 1024"),
        (["--threads", "100000"], "--threads must be at most the"),  # crashed PyTorch's thread pool
        (["--samples-per-class", "100000"], "--samples-per-class 100000 would make sample grids of over"),
        (["--eval-every", "1", "--eval-per-class", "100000"], "--eval-per-class: per_class must be at most"),
    ],
)
def test_train_refuses_values_that_used_to_crash(argv, message, tmp_path, capsys, shared_data):
    run = tmp_path / "run"
    code = main(["train", "--data-dir", str(shared_data / "mnist"), "--out", str(run), "--no-progress", *argv])
    assert code == 2 and message in capsys.readouterr().err
    assert not run.exists()


def test_out_naming_a_file_is_one_line(tmp_path, capsys, shared_data):
    target = tmp_path / "file"
    target.write_text("mine")
    assert main(["train", "--data-dir", str(shared_data / "mnist"), "--out", str(target)]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err and target.read_text() == "mine"


def test_a_huge_seed_within_range_trains(tiny_config, tmp_path):
    assert fit(tiny_config(tmp_path / "run", epochs=1, seed=2**63 - 1), progress=False).step == 10


@pytest.mark.parametrize("label", ["-1", "+3", "- 2"])
def test_a_signed_label_is_not_a_class(label, tmp_path, capsys):
    code = main(["generate", "--dataset", "mnist", "--label", label, "--out", str(tmp_path / "x.png")])
    assert code == 2 and "is not a class" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


@pytest.mark.parametrize(
    "change, message",
    [
        ({"batch_size": "big"}, "--batch-size must be int"),
        ({"lr": None}, "--lr must be float"),
        ({"seed": None}, "--seed must be int"),
        ({"epochs": 1.5}, "--epochs must be int"),
    ],
)
def test_config_json_is_checked_by_type_on_resume(tiny_run_copy, change, message):
    config = json.loads((tiny_run_copy / "config.json").read_text())
    config.update(change)
    (tiny_run_copy / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=message):
        fit(_config_of(tiny_run_copy), resume=True, progress=False)


def test_config_json_missing_a_field_is_refused(tiny_run_copy):
    config = json.loads((tiny_run_copy / "config.json").read_text())
    del config["seed"]  # used to become 0 silently
    (tiny_run_copy / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="lacks seed"):
        fit(_config_of(tiny_run_copy), resume=True, progress=False)


# The fields of TrainConfig in cgan's first release: every option added since must resume from a config.json
# written before it (ADDED_LATER), as its default.
FIRST_RELEASE_OPTIONS = {
    "dataset", "data_dir", "out", "arch", "latent_dim", "g_width", "d_width", "embed_dim", "cond_g", "cond_d",
    "spectral_norm", "loss", "n_critic", "gp_weight", "r1", "augment", "epochs", "max_steps", "max_seconds",
    "batch_size", "lr", "beta1", "beta2", "ema", "clip_grad", "seed", "threads", "device", "precision",
    "channels_last", "max_images", "log_every", "checkpoint_every", "samples_per_class", "eval_every",
    "eval_every_s", "eval_per_class",
}  # fmt: skip


def test_config_json_of_an_older_cgan_resumes_with_the_newer_options_at_their_defaults(tiny_run_copy):
    newer = {f.name for f in fields(TrainConfig)} - FIRST_RELEASE_OPTIONS
    assert newer == set(ADDED_LATER)
    config = json.loads((tiny_run_copy / "config.json").read_text())
    for name in newer:
        del config[name]
    (tiny_run_copy / "config.json").write_text(json.dumps(config))
    assert main(["train", "--resume", str(tiny_run_copy), "--epochs", "4", "--no-progress"]) == 0
    assert json.loads((tiny_run_copy / "model.json").read_text())["step"] == 40
    saved = json.loads((tiny_run_copy / "config.json").read_text())
    assert {name: saved[name] for name in newer} == {name: default_of(name) for name in newer}


def test_a_damaged_metrics_log_is_one_line(tiny_run_copy):
    with open(tiny_run_copy / "metrics.csv", "a") as f:
        f.write("many,1,2\n")
    with pytest.raises(CheckpointError, match="not a readable cgan metrics log"):
        fit(_config_of(tiny_run_copy), resume=True, progress=False)


@pytest.fixture
def tiny_run_copy(tiny_run, tmp_path):
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(tiny_run, copy)
    time.sleep(0)  # the copy is complete: copytree returns after the last file
    return copy


def _config_of(run):
    from cgan.training import TrainConfig

    return TrainConfig(out=str(run), epochs=3)


# --- what the operating system refuses: one line naming the path, nothing half-made ---------------


@pytest.fixture
def read_only_folder():
    """A folder that refuses new files even to root (tests run as root, where chmod stops nothing): /sys."""
    import tempfile

    try:
        with tempfile.TemporaryFile(dir="/sys"):
            pass
    except OSError:
        return Path("/sys")
    pytest.skip("no folder here refuses new files")


def run_limited(max_file_bytes: int, *argv: str) -> subprocess.CompletedProcess:
    """`cgan ARGV` in a process whose files cannot grow past `max_file_bytes`: a full disk, as far as
    its writes can tell (they fail with EFBIG, File too large)."""
    resource = pytest.importorskip("resource")

    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_file_bytes, max_file_bytes))

    return subprocess.run(
        [sys.executable, "-m", "cgan", *argv], preexec_fn=limit, capture_output=True, text=True, timeout=300
    )


TINY_TRAIN = ["--max-images", "320", "--batch-size", "32", "--epochs", "1", "--g-width", "8", "--d-width", "8",
              "--latent-dim", "16", "--log-every", "1", "--no-progress"]  # fmt: skip


def test_a_full_disk_stops_training_with_one_line_and_the_folder_starts_afresh(tiny_config, tmp_path, shared_data):
    run = tmp_path / "run"
    result = run_limited(30_000, "train", "--data-dir", str(shared_data / "mnist"), "--out", str(run), *TINY_TRAIN)
    assert result.returncode == 2 and result.stdout == "", result.stderr
    error = result.stderr.strip()
    assert len(error.splitlines()) == 1 and error.startswith(f"cgan: error: {run}")
    assert "File too large" in error and "run the same command again" in error
    assert not list(run.rglob("*.tmp"))
    assert fit(tiny_config(run, epochs=1), progress=False).step == 10  # no --resume needed


def test_a_full_disk_leaves_no_partial_output(tmp_path):
    out = tmp_path / "images.npz"
    result = run_limited(1000, "generate", "--dataset", "mnist", "--all", "--out", str(out))
    assert result.returncode == 2 and result.stderr == f"cgan: error: {out}: File too large\n"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "argv",
    [
        ["generate", "--dataset", "mnist", "--label", "3", "--out", "{ro}/cgan-test.png"],
        ["generate", "--dataset", "mnist", "--label", "3", "--out-dir", "{ro}/cgan-test"],
        ["latent-grid", "--dataset", "mnist", "--label", "3", "--size", "2", "--out", "{ro}/cgan-test.png"],
        ["train-evaluator", "--out", "{ro}/cgan-test"],
        ["export", "{bundled}", "--web", "{ro}/cgan-test"],
    ],
    ids=["generate-out", "generate-out-dir", "visual", "train-evaluator", "export-web"],
)
def test_a_read_only_folder_is_one_line_naming_the_path(argv, read_only_folder, capsys):
    from cgan.run_folder import BUNDLED_DIR

    argv = [a.replace("{ro}", str(read_only_folder)).replace("{bundled}", str(BUNDLED_DIR / "mnist")) for a in argv]
    assert main(argv) == 2
    error = capsys.readouterr().err
    assert len(error.splitlines()) == 1 and error.startswith(f"cgan: error: {read_only_folder}/cgan-test")


@pytest.mark.parametrize("target", ["--out", "--out-dir"])
def test_an_empty_output_name_is_one_line(target, capsys):
    assert main(["generate", "--dataset", "mnist", "--label", "3", target, ""]) == 2
    assert capsys.readouterr().err == f"cgan: error: {target} is empty; name a file or folder\n"


def test_a_model_json_asking_for_a_huge_network_is_one_line(tiny_run_copy, tmp_path, capsys):
    model = json.loads((tiny_run_copy / "model.json").read_text())
    model["arch"]["g_width"] = 100_000  # would allocate over a terabyte
    (tiny_run_copy / "model.json").write_text(json.dumps(model))
    assert main(["generate", str(tiny_run_copy), "--label", "3", "--out", str(tmp_path / "x.png")]) == 2
    assert "g_width must be an integer from 1 to 1024, got 100000" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("change", "message"),
    [
        # A stranger's run must not write outside the folder it is asked to fill: class names are file names.
        (lambda model: model["classes"].__setitem__(0, "../../../escaped"), "'../../../escaped' is a path"),
        (lambda model: model["classes"].__setitem__(0, "/tmp/absolute"), "'/tmp/absolute' is a path"),
        (lambda model: model["classes"].__setitem__(0, model["classes"][1]), "class names must be distinct"),
        (lambda model: model.__setitem__("arch", None), "is damaged: a value has the wrong type"),
        (lambda model: model["arch"].__setitem__("latent_dim", "abc"), "is damaged: a value has the wrong type"),
    ],
)
def test_a_damaged_or_hostile_model_json_is_one_line_and_writes_nothing(
    tiny_run_copy, tmp_path, capsys, change, message
):
    model = json.loads((tiny_run_copy / "model.json").read_text())
    change(model)
    (tiny_run_copy / "model.json").write_text(json.dumps(model))
    before = sorted(tmp_path.rglob("*"))
    out = tmp_path / "outputs" / "deep" / "er"
    assert main(["generate", str(tiny_run_copy), "--label", "1", "--count", "1", "--out-dir", str(out)]) == 2
    error = capsys.readouterr().err
    assert message in error and len(error.splitlines()) == 1
    assert sorted(tmp_path.rglob("*")) == before


def test_out_dir_naming_a_file_is_one_line(tmp_path, capsys):
    target = tmp_path / "file"
    target.write_text("mine")
    assert main(["generate", "--dataset", "mnist", "--label", "3", "--out-dir", str(target)]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err and target.read_text() == "mine"


def test_a_png_folder_failing_midway_removes_what_it_wrote(tmp_path, capsys):
    folder = tmp_path / "pngs"
    (folder / "00002_3.png").mkdir(parents=True)  # the third image cannot be written
    assert main(["generate", "--dataset", "mnist", "--label", "3", "--count", "4", "--out-dir", str(folder)]) == 2
    assert f"{folder / '00002_3.png'}: Is a directory" in capsys.readouterr().err
    assert [p.name for p in folder.iterdir()] == ["00002_3.png"]


def test_an_unreadable_data_file_is_one_line(tmp_path, capsys, shared_data):
    folder = tmp_path / "data"
    folder.mkdir()
    for name in ("train-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        (folder / name).symlink_to(shared_data / "mnist" / name)
    if not Path("/proc/self/mem").is_file():
        pytest.skip("no /proc/self/mem here to stand for a file that cannot be read")
    (folder / "train-labels-idx1-ubyte.gz").symlink_to("/proc/self/mem")  # reading it fails: EIO
    assert main(["train", "--data-dir", str(folder), "--out", str(tmp_path / "run")]) == 2
    error = capsys.readouterr().err
    assert error == f"cgan: error: cannot read {folder / 'train-labels-idx1-ubyte.gz'}: Input/output error\n"
    assert not (tmp_path / "run").exists()


def test_a_damaged_test_split_stops_a_measured_run_before_its_first_step(tmp_path, capsys, shared_data):
    folder = tmp_path / "data"
    folder.mkdir()
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz"):
        (folder / name).symlink_to(shared_data / "mnist" / name)
    labels = (shared_data / "mnist" / "t10k-labels-idx1-ubyte.gz").read_bytes()
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(labels[: len(labels) // 2])
    argv = ["train", "--data-dir", str(folder), "--eval-every", "1", "--out", str(tmp_path / "run")]
    assert main(argv) == 2
    error = capsys.readouterr().err
    assert "t10k-labels-idx1-ubyte.gz" in error and len(error.splitlines()) == 1
    assert not (tmp_path / "run").exists()  # nothing trained, nothing to lose


# --- huge values ----------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["generate", "interpolate", "latent-grid", "evaluate"])
@pytest.mark.parametrize("seed", ["18446744073709551616", "-1"])
def test_a_seed_out_of_range_is_refused_by_every_command(command, seed, tmp_path, capsys):
    rest = {
        "generate": ["--label", "3", "--out", str(tmp_path / "x.png")],
        "interpolate": ["--label", "3", "--out", str(tmp_path / "x.gif")],
        "latent-grid": ["--label", "3", "--out", str(tmp_path / "x.png")],
        "evaluate": ["--no-cas"],
    }[command]
    with pytest.raises(SystemExit) as exit_:
        main([command, "--dataset", "mnist", "--seed", seed, *rest])
    assert exit_.value.code == 2 and "--seed: must lie in 0 to 2**63 - 1" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "argv",
    [
        ["generate", "--label", "3", "--scale", "2000", "--out", "x.png"],  # asked for ~60 GB
        ["generate", "--label", "3", "--scale", "300", "--out", "x.png"],  # 1.3 gigapixels
        ["generate", "--label", "3", "--scale", "290", "--out-dir", "pngs"],  # 16 PNGs of 66 megapixels
        ["interpolate", "--from", "1", "--to", "2", "--steps", "100", "--count", "10", "--scale", "8", "--out", "x.gif"],
        ["latent-grid", "--label", "3", "--size", "100", "--scale", "4", "--out", "x.png"],
        ["compare-real", "--count", "100", "--scale", "30", "--out", "x.png", "--data-dir", "{mnist}"],
    ],
    ids=["scale-2000", "scale-300", "out-dir", "interpolate", "latent-grid", "compare-real"],
)
def test_pictures_are_bounded_in_pixels(argv, tmp_path, monkeypatch, capsys, shared_data):
    monkeypatch.chdir(tmp_path)
    argv = [a.replace("{mnist}", str(shared_data / "mnist")) for a in argv]
    assert main([argv[0], "--dataset", "mnist", *argv[1:]]) == 2
    error = capsys.readouterr().err
    assert len(error.splitlines()) == 1 and "at most 67,108,864 at once: use a smaller --scale" in error
    assert list(tmp_path.iterdir()) == []


def test_evaluate_per_class_is_bounded(capsys):
    # Once a 74.5 GiB allocation (a MemoryError traceback) before anything was measured.
    assert main(["evaluate", "--dataset", "mnist", "--per-class", "1000000000", "--no-cas"]) == 2
    assert capsys.readouterr().err == "cgan: error: per_class must be at most 10,000, got 1,000,000,000\n"


def test_the_largest_picture_allowed_is_drawn_and_read_back(tmp_path):
    from cgan.evaluation.samples import read_png_folder

    # One 28x28 image at scale 292 is 8176x8176, just under the bound: cgan can read back what it writes.
    assert main(["generate", "--dataset", "mnist", "--label", "3", "--count", "1", "--scale", "292",
                 "--seed", "1", "--out-dir", str(tmp_path / "pngs")]) == 0  # fmt: skip
    images, labels = read_png_folder(tmp_path / "pngs", "mnist")
    assert images.shape == (1, 28, 28) and labels.tolist() == [3]


# --- files that used to raise tracebacks ------------------------------------------------------------


def test_an_idx_header_whose_dimensions_overflow_is_one_line(tmp_path):
    import struct

    from cgan.data import read_idx
    from cgan.errors import DataError

    path = tmp_path / "images-idx3-ubyte"
    path.write_bytes(struct.pack(">BBBB3I", 0, 0, 8, 3, 2**31, 2**31, 4))  # 2**64 bytes: 0 in 64-bit numbers
    with pytest.raises(DataError, match="truncated: dimensions 2147483648x2147483648x4 need 18446744073709551616"):
        read_idx(path)


def test_a_gzip_bomb_in_a_data_folder_is_refused_while_decompressing(tmp_path, monkeypatch):
    import gzip

    from cgan.data import idx
    from cgan.errors import DataError

    monkeypatch.setattr(idx, "MAX_BYTES", 2**20)  # the bound (256 MB) made small, so the test stays small
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(bytes(2**21)))  # 2 KB that decompress to 2 MB
    with pytest.raises(DataError, match="decompresses to over 1,048,576 bytes"):
        idx.read_idx(path)
    path.write_bytes(bytes(2**20 + 1))
    with pytest.raises(DataError, match="holds over 1,048,576 bytes"):
        idx.read_idx(path)


@pytest.mark.parametrize(
    "images, message",
    [
        (np.full((2, 28, 28), "a"), "got an array of <U1"),
        (np.zeros((2, 28, 28), dtype=complex), "got an array of complex128"),
        (np.zeros((2, 28, 28), dtype=bool), "got an array of bool"),
    ],
)
def test_an_npz_of_strings_or_other_non_pixels_is_one_line(images, message, tmp_path, capsys):
    path = tmp_path / "samples.npz"
    np.savez(path, images=images, labels=np.array([1, 2]))
    assert main(["evaluate", str(path), "--dataset", "mnist", "--no-cas"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("cgan: error: images must be uint8 pixels 0-255") and message in error


def test_an_npz_declaring_a_huge_array_is_refused_from_its_header(tmp_path, capsys):
    import io
    import zipfile

    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "|u1", "fortran_order": False, "shape": (10**9, 28, 28)})
    labels = io.BytesIO()
    np.save(labels, np.zeros(2, dtype=np.int64))
    path = tmp_path / "samples.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("images.npy", header.getvalue())  # 784 GB declared, no data
        archive.writestr("labels.npy", labels.getvalue())
    assert main(["evaluate", str(path), "--dataset", "mnist", "--no-cas"]) == 2
    assert "its images array holds 784,000,000,000 values" in capsys.readouterr().err


def png_header_only(path: Path, side: int) -> None:
    """A PNG that claims side x side grey pixels; Pillow reads the claim before any pixel."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    body = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * (side + 1))) + chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + body)


@pytest.mark.parametrize("side", [8400, 9800, 14000], ids=["cgan-bound", "pillow-warning", "pillow-error"])
def test_a_png_folder_with_a_huge_picture_is_refused_before_decoding(side, tmp_path, capsys):
    folder = tmp_path / "pngs"
    folder.mkdir()
    png_header_only(folder / "00000_3.png", side)  # a whole multiple of 28 each: only the size is wrong
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # not even a warning gets through
        assert main(["evaluate", str(folder), "--dataset", "mnist", "--no-cas"]) == 2
    error = capsys.readouterr().err
    assert error == (
        f"cgan: error: {folder / '00000_3.png'} is too large a picture to read (over 67,108,864 pixels)\n"
    )


def test_a_sample_grid_bomb_in_a_run_folder_is_one_line(tiny_run_copy, tmp_path, capsys):
    png_header_only(tiny_run_copy / "samples" / "epoch_001.png", 14000)
    assert main(["evolution", str(tiny_run_copy), "--out", str(tmp_path / "x.gif")]) == 2
    assert "epoch_001.png is too large a picture to read" in capsys.readouterr().err
