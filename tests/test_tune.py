"""`cgan tune`: search spaces parsed by the training options' types, trials trained and measured in parts,
pruned, stored in a real SQLite file (and a real PostgreSQL server where one can be started), resumed, and
the best one printed as a `cgan train` command."""

import os
import shlex
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

from cgan.cli import build_parser, main
from cgan.cli.train import config_values
from cgan.tune import Choice, Range, parse_dimension, parse_fixed, search_space

optuna = pytest.importorskip("optuna")

TINY = ["max_images=320", "batch_size=32", "g_width=8", "d_width=8", "latent_dim=16", "threads=1"]


def test_dimensions_are_typed_by_the_training_options():
    assert parse_dimension("lr=1e-4:1e-3:log") == Range("lr", 1e-4, 1e-3, log=True)
    assert parse_dimension("g-width=16:64") == Range("g_width", 16, 64, log=False)
    assert isinstance(parse_dimension("g_width=16:64").low, int)
    assert parse_dimension("loss=lsgan,hinge") == Choice("loss", ("lsgan", "hinge"))
    assert parse_dimension("augment=none,translation+cutout") == Choice("augment", (None, "translation,cutout"))
    assert parse_dimension("spectral_norm=true,false") == Choice("spectral_norm", (True, False))
    assert parse_fixed("batch_size=128") == ("batch_size", 128) and parse_fixed("ema=none") == ("ema", None)


def test_the_default_space_is_narrowed_by_space_and_fix():
    space = search_space(["loss=lsgan,hinge", "lr=1e-4:1e-3:log"], {"batch_size": 128})
    assert space["loss"] == Choice("loss", ("lsgan", "hinge")) and space["lr"].high == 1e-3
    assert "batch_size" not in space and "ema" in space
    assert set(search_space(["lr=1e-4:1e-3"], {}, defaults=False)) == {"lr"}


@pytest.mark.parametrize(
    "space, fixed, message",
    [
        (["colour=red,blue"], [], "unknown option 'colour'"),
        (["lr=1e-3:1e-4"], [], "LOW below HIGH"),
        (["loss=lsgan:hinge"], [], "a range is LOW:HIGH or LOW:HIGH:log, for a number option"),
        (["lr=1e-4:1e-3:cubic"], [], "a range is LOW:HIGH"),
        (["lr=fast,slow"], [], "'fast' is not a valid float"),
        (["max_seconds=1:2"], [], "set by cgan tune"),
        (["lr=1e-4:1e-3"], ["lr=3e-4"], "both searched (--space) and fixed (--fix)"),
        ([], ["epochs=3"], "set by cgan tune"),
        (["loss=lsgan,wasserstein"], [], "--loss must be one of"),
    ],
)
def test_a_bad_space_is_one_line_before_anything_trains(tmp_path, capsys, space, fixed, message):
    argv = ["tune", "--out", str(tmp_path / "t")]
    argv += [a for text in space for a in ("--space", text)] + [a for text in fixed for a in ("--fix", text)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and err.startswith("cgan: error: ")
    assert not (tmp_path / "t").exists()


@pytest.mark.parametrize("url", ["postgresql+psycopg://nobody@127.0.0.1:1/none", "nosuchdb://x"])
def test_a_storage_that_cannot_be_opened_is_one_line(shared_data, tmp_path, capsys, url):
    assert main(["tune", "--data-dir", str(shared_data / "mnist"), "--out", str(tmp_path / "t"), "--storage", url]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"cgan: error: cannot open the study storage {url}: ") and err.count("\n") == 1


def tune(shared_data, out, *more, fixed=TINY):
    argv = ["tune", "--data-dir", str(shared_data / "mnist"), "--out", str(out), "--budget", "2s",
            "--evaluations", "2", "--eval-per-class", "10", "--no-default-space", *more]  # fmt: skip
    return main(argv + [a for text in fixed for a in ("--fix", text)])


def load(out, url=None):
    return optuna.load_study(study_name="cgan-tune", storage=url or f"sqlite:///{out / 'tune.db'}")


def test_trials_are_stored_resumed_and_the_best_printed_as_a_train_command(shared_data, tmp_path, capsys):
    out = tmp_path / "tune"
    space = ["--space", "lr=1e-4:1e-3:log", "--space", "loss=lsgan,hinge", "--space", "ema=none,0.999"]
    assert tune(shared_data, out, "--trials", "2", *space) == 0
    first = load(out).get_trials()
    assert [t.state.name for t in first] == ["COMPLETE", "COMPLETE"]
    assert sorted(p.name for p in (out / "trials").iterdir()) == ["0000", "0001"]
    capsys.readouterr()

    # Run again asking for 3 in all (as after a crash): the finished trials are kept, one more trains.
    assert tune(shared_data, out, "--trials", "3", *space) == 0
    printed = capsys.readouterr().out
    assert "2 finished trials kept" in printed and "trial 0:" not in printed and "trial 2:" in printed
    trials = load(out).get_trials()
    assert [t.state.name for t in trials] == ["COMPLETE"] * 3
    assert [(t.params, t.value) for t in trials[:2]] == [(t.params, t.value) for t in first]
    for trial in trials:
        assert trial.user_attrs["measurements"] == 2 and 0 <= trial.user_attrs["class_accuracy"] <= 1
        assert trial.intermediate_values.keys() == {0, 1} and trial.intermediate_values[1] == trial.value
    assert len(list((out / "trials").iterdir())) == 3

    best = min(trials, key=lambda t: t.value)
    command = printed.strip().splitlines()[-1]
    assert command.startswith("cgan train ") and f"best: trial {best.number}" in printed
    args = build_parser().parse_args(shlex.split(command)[1:])
    values, _ = config_values(args)  # what the command means, options left at their defaults included
    assert args.command == "train" and values["max_seconds"] == 2.0 and values["data_dir"] == str(shared_data / "mnist")
    assert (values["lr"], values["loss"], values["ema"]) == (best.params["lr"], best.params["loss"], best.params["ema"])
    assert (values["g_width"], values["batch_size"], values["max_images"], values["threads"]) == (8, 32, 320, 1)

    table = (out / "tune.md").read_text()
    assert table.count("| complete |") == 3 and command in table
    assert table.index(f"| {best.number} | complete |") < min(
        table.index(f"| {t.number} | complete |") for t in trials if t is not best
    )

    # Other settings in the same study would not be comparable: refused in one line.
    assert tune(shared_data, out, "--trials", "4", "--budget", "5s", *space) == 2
    assert "made with other settings (budget_s)" in capsys.readouterr().err


def test_a_trial_that_falls_behind_is_pruned_and_stops_training(shared_data, tmp_path, capsys):
    out = tmp_path / "tune"
    out.mkdir()
    # An earlier trial far better than a short training can be, at every measurement.
    study = optuna.create_study(study_name="cgan-tune", storage=f"sqlite:///{out / 'tune.db'}")
    reference = optuna.trial.create_trial(
        params={"lr": 6e-4},
        distributions={"lr": optuna.distributions.FloatDistribution(1e-4, 1e-3, log=True)},
        value=1e-3,
        intermediate_values={0: 1e-3, 1: 1e-3, 2: 1e-3},
    )
    study.add_trial(reference)
    argv = ["--trials", "2", "--evaluations", "3", "--budget", "3s", "--startup-trials", "1",
            "--space", "lr=1e-4:1e-3:log"]  # fmt: skip
    assert tune(shared_data, out, *argv) == 0
    pruned = load(out).get_trials()[1]
    assert pruned.state.name == "PRUNED"
    # The first measurement is never judged; the second one is, and no third one was trained for.
    assert pruned.intermediate_values.keys() == {0, 1} and pruned.user_attrs["measurements"] == 2
    assert pruned.user_attrs["training_s"] < 3.0
    assert "| 1 | pruned |" in (out / "tune.md").read_text() and "trial 1: pruned" in capsys.readouterr().out


def test_a_diverging_trial_fails_alone_and_the_search_goes_on(shared_data, tmp_path, capsys):
    out = tmp_path / "tune"
    argv = ["--trials", "1", "--space", "lr=1e5:1e6:log"]
    assert tune(shared_data, out, *argv, fixed=[*TINY, "log_every=1"]) == 0
    [trial] = load(out).get_trials()
    assert trial.state.name == "FAIL" and "training diverged" in trial.user_attrs["error"]
    assert "| 0 | fail: training diverged at step" in (out / "tune.md").read_text()
    printed = capsys.readouterr().out
    assert "trial 0: failed: training diverged" in printed and "no trial has finished" in printed


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def postgres():
    """A PostgreSQL server of our own in a temporary folder (as `nobody` when run as root); its URL."""
    bin_dirs = sorted(Path("/usr/lib/postgresql").glob("*/bin"))
    initdb = shutil.which("initdb") or next((str(d / "initdb") for d in bin_dirs if (d / "initdb").exists()), None)
    if initdb is None:
        pytest.skip("PostgreSQL's initdb is not installed")
    pytest.importorskip("psycopg")
    pg_ctl = str(Path(initdb).with_name("pg_ctl"))
    folder = Path(tempfile.mkdtemp(prefix="cgan-pg-"))
    as_user = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        shutil.chown(folder, "nobody")
        as_user = ["runuser", "-u", "nobody", "--"]
    data, port = folder / "data", free_port()

    def run(*command):
        subprocess.run(as_user + list(command), check=True, capture_output=True, timeout=60)

    run(initdb, "-D", str(data), "-U", "cgan", "--auth=trust", "--no-sync")
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
    run(pg_ctl, "-D", str(data), "-o", options, "-l", str(folder / "log"), "-w", "start")
    try:
        yield f"postgresql+psycopg://cgan@127.0.0.1:{port}/postgres"
    finally:
        run(pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(folder)


def test_machines_sharing_a_postgresql_study_share_its_trials(shared_data, tmp_path, postgres, capsys):
    space = ["--space", "lr=1e-4:1e-3:log", "--storage", postgres]
    assert tune(shared_data, tmp_path / "machine-a", "--trials", "1", *space) == 0
    # Another machine: its own folder, the same command and database; it adds what is missing.
    assert tune(shared_data, tmp_path / "machine-b", "--trials", "2", *space) == 0
    trials = load(None, postgres).get_trials()
    assert [t.state.name for t in trials] == ["COMPLETE", "COMPLETE"]
    assert [p.name for p in (tmp_path / "machine-b" / "trials").iterdir()] == ["0001"]
    assert (tmp_path / "machine-b" / "tune.md").read_text().count("| complete |") == 2
    assert "1 finished trials kept" in capsys.readouterr().out
