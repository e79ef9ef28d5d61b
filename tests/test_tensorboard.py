"""cgan train --tensorboard: the event files, read back with TensorBoard's own reader."""

import io
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from cgan.run_folder import RunFolder
from cgan.training import fit

event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
from tensorboard.plugins.hparams import plugin_data_pb2  # noqa: E402


def read_events(run) -> "event_accumulator.EventAccumulator":
    everything = {kind: 0 for kind in (event_accumulator.SCALARS, event_accumulator.IMAGES, event_accumulator.TENSORS)}
    events = event_accumulator.EventAccumulator(str(run / "tensorboard"), size_guidance=everything)
    return events.Reload()


def scalars(events, tag) -> dict[int, float]:
    values = events.Scalars(tag)
    steps = [v.step for v in values]
    assert len(steps) == len(set(steps)), f"{tag} has a step twice: {steps}"
    return {v.step: v.value for v in values}


def csv_column(run, column) -> dict[int, float]:
    metrics = RunFolder(run).metrics.read()
    return {int(s): v for s, v in zip(metrics["step"], metrics[column], strict=True) if not np.isnan(v)}


def test_scalars_sample_grids_and_options_are_logged(tiny_config, tmp_path):
    run = tmp_path / "run"
    config = tiny_config(run, tensorboard=True, eval_every=2, eval_per_class=20)
    fit(config, progress=False)
    events = read_events(run)

    for column, tag in [("d_loss", "loss/d_loss"), ("d_real", "d_output/d_real"), ("g_grad_norm", "grad_norm/g_grad_norm"),
                        ("images_per_s", "speed/images_per_s"), ("fd_evaluator", "quality/fd_evaluator"),
                        ("class_accuracy", "quality/class_accuracy")]:  # fmt: skip
        logged, recorded = scalars(events, tag), csv_column(run, column)
        assert logged.keys() == recorded.keys() and recorded
        assert np.allclose(list(logged.values()), list(recorded.values()), rtol=1e-6)
    assert sorted(scalars(events, "quality/fd_evaluator")) == [20]

    grids = events.Images("samples")
    assert [g.step for g in grids] == [10, 20]
    shown = np.asarray(Image.open(io.BytesIO(grids[-1].encoded_image_string)).convert("L"))
    saved = np.asarray(Image.open(RunFolder(run).sample_file(2)).convert("L"))
    assert np.array_equal(shown, saved[::2, ::2])  # the PNG is drawn at twice the size

    hparams = events.PluginTagToContent("hparams")
    start = plugin_data_pb2.HParamsPluginData.FromString(hparams["_hparams_/session_start_info"]).session_start_info
    assert start.hparams["dataset"].string_value == "mnist"
    assert start.hparams["batch_size"].number_value == 32 and start.hparams["lr"].number_value == config.lr
    assert start.hparams["max_steps"].string_value == "none"
    experiment = plugin_data_pb2.HParamsPluginData.FromString(hparams["_hparams_/experiment"]).experiment
    assert "quality/fd_evaluator" in {m.name.tag for m in experiment.metric_infos}


def test_a_resumed_run_appends_to_the_same_log(tiny_config, tmp_path):
    from torch.utils.tensorboard import SummaryWriter

    run = tmp_path / "run"
    fit(tiny_config(run, tensorboard=True, epochs=1), progress=False)
    # What a session killed after its checkpoint at step 10 would have left: a value at step 15.
    with SummaryWriter(run / "tensorboard") as killed:
        killed.add_scalar("loss/d_loss", 1e9, 15)
    fit(tiny_config(run, tensorboard=True, epochs=2), resume=True, progress=False)

    events = read_events(run)
    logged, recorded = scalars(events, "loss/d_loss"), csv_column(run, "d_loss")
    assert sorted(logged) == list(range(1, 21)) == sorted(recorded)
    assert np.allclose([logged[s] for s in range(1, 21)], [recorded[s] for s in range(1, 21)], rtol=1e-6)
    assert [g.step for g in events.Images("samples")] == [10, 20]
    assert list(events.PluginTagToContent("hparams")) == ["_hparams_/experiment", "_hparams_/session_start_info",
                                                          "_hparams_/session_end_info"]  # fmt: skip


def test_without_the_option_nothing_imports_tensorboard_and_without_the_package_the_flag_is_one_line(
    shared_data, tmp_path
):
    tiny = ["--max-images", "320", "--batch-size", "32", "--epochs", "1", "--g-width", "8", "--d-width", "8",
            "--latent-dim", "16", "--samples-per-class", "2", "--no-progress"]  # fmt: skip
    # sys.modules[name] = None makes Python treat the package as absent: any import of it fails.
    script = (
        "import sys; sys.modules['tensorboard'] = None\n"
        "from cgan.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    data = ["--data-dir", str(shared_data / "mnist")]
    plain = subprocess.run([sys.executable, "-c", script, "train", *data, *tiny, "--out", tmp_path / "plain"],
                           capture_output=True, text=True)  # fmt: skip
    assert plain.returncode == 0, plain.stderr
    assert not (tmp_path / "plain" / "tensorboard").exists()

    flagged = subprocess.run([sys.executable, "-c", script, "train", *data, *tiny, "--tensorboard", "--out",
                              tmp_path / "flagged"], capture_output=True, text=True)  # fmt: skip
    assert flagged.returncode == 2
    assert flagged.stderr == "cgan: error: --tensorboard needs the tensorboard extra: pip install 'cgan[tensorboard]'\n"
    assert not (tmp_path / "flagged").exists()
