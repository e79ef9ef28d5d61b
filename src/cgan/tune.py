"""Hyperparameter search over the training options with Optuna (`cgan tune`).

Each trial trains one set of options for the same training-time budget and is measured by the evaluator
`evaluations` times, evenly spaced; after each measurement its fd_evaluator goes to Optuna, whose pruner
stops a trial that falls behind the others at the same point. A trial trains in parts: up to the first
measurement, then resumed up to the next, so a pruned trial is simply not resumed. The study lives in an
Optuna storage (SQLite in the output folder unless told otherwise): running the same command again
continues it, and machines sharing a database URL share its trials.

A search space is written per option: `lr=1e-4:2e-3:log` (a range, log-uniform), `g_width=16:64` (a
range, uniform; whole numbers for whole-number options), `loss=lsgan,hinge` (a choice). A choice of
text that itself holds commas (an --augment policy) joins its parts with `+`: `augment=none,translation+cutout`.
"""

from __future__ import annotations

import math
import shlex
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .checkpoint import atomic_write
from .data import resolve_dataset
from .errors import CganError
from .run_folder import QUALITY_COLUMNS
from .study import option_name, summarise_run, typed_value
from .training import TrainConfig, fit
from .training.config import config_field, train_arguments

DEFAULT_SPACE = (
    "lr=1e-4:2e-3:log",
    "loss=lsgan,hinge,vanilla",
    "batch_size=64,128,256",
    "ema=none,0.999",
    "cond_d=projection,concat,acgan",
    "g_width=16,32,64",
    "d_width=16,32,64",
    "r1=none,1.0",
    "augment=none,translation+cutout",
)
# Options the tuner decides for every trial alike.
TUNE_OWNED = (
    "dataset", "data_dir", "out", "seed", "epochs", "max_steps", "max_seconds", "eval_every", "eval_every_s",
    "eval_per_class",
)  # fmt: skip
PRUNERS = ("median", "none")
REPORT_FILE = "tune.md"
# Settings a study keeps for its life: trials made with other ones would not be comparable.
SAME = ("dataset", "seed", "budget_s", "evaluations", "eval_per_class", "fixed")


@dataclass(frozen=True)
class Choice:
    name: str
    values: tuple

    def suggest(self, trial):
        return trial.suggest_categorical(self.name, self.values)


@dataclass(frozen=True)
class Range:
    name: str
    low: float
    high: float
    log: bool

    def suggest(self, trial):
        if isinstance(self.low, int):
            return trial.suggest_int(self.name, self.low, self.high, log=self.log)
        return trial.suggest_float(self.name, self.low, self.high, log=self.log)


def owned_name(name: str, text: str) -> str:
    name = option_name(name, text)
    if name in TUNE_OWNED:
        raise CganError(f"{name} is set by cgan tune for every trial alike; it cannot be searched or fixed")
    return name


def parse_fixed(text: str) -> tuple[str, object]:
    """'batch_size=128' -> ('batch_size', 128)."""
    name, _, raw = text.partition("=")
    name = owned_name(name, text)
    return name, typed_value(name, raw.strip(), text)


def parse_dimension(text: str) -> Choice | Range:
    """'lr=1e-4:1e-3:log' -> a Range, 'loss=lsgan,hinge' -> a Choice."""
    name, _, spec = text.partition("=")
    name = owned_name(name, text)
    kind = str(config_field(name).type)
    if ":" in spec:
        low_text, high_text, *scale = spec.split(":")
        if not kind.startswith(("int", "float")) or scale not in ([], ["log"]):
            raise CganError(f"{text!r}: a range is LOW:HIGH or LOW:HIGH:log, for a number option")
        low, high = typed_value(name, low_text.strip(), text), typed_value(name, high_text.strip(), text)
        # typed_value gives a number option's numbers, or None for "none"
        if not (isinstance(low, int | float) and isinstance(high, int | float) and low < high):
            raise CganError(f"{text!r}: a range needs LOW below HIGH")
        return Range(name, low, high, log=scale == ["log"])
    parts = [part.strip() for part in spec.split(",")]
    if "str" in kind:
        parts = [part.replace("+", ",") for part in parts]
    values = tuple(dict.fromkeys(typed_value(name, part, text) for part in parts if part))
    if not values:
        raise CganError(f"{text!r}: give a range LOW:HIGH[:log] or comma-separated choices")
    return Choice(name, values)


def search_space(given: list[str], fixed: dict, defaults: bool = True) -> dict[str, Choice | Range]:
    """The default space (unless `defaults` is off) with the given dimensions in place of the defaults' and
    the fixed options taken out."""
    space = {d.name: d for d in map(parse_dimension, DEFAULT_SPACE if defaults else ())}
    for dimension in map(parse_dimension, given):
        if dimension.name in fixed:
            raise CganError(f"{dimension.name} is both searched (--space) and fixed (--fix)")
        space[dimension.name] = dimension
    space = {name: d for name, d in space.items() if name not in fixed}
    if not space:
        raise CganError("nothing to search: give at least one --space option")
    return space


@dataclass
class TuneConfig:
    dataset: str = "mnist"
    data_dir: str | None = None
    out: str = "tuning/mnist"
    seed: int = 0
    budget_s: float = 120.0  # training time of each trial
    evaluations: int = 4  # measurements per trial, evenly spaced in its budget; each may prune it
    eval_per_class: int = 500
    trials: int = 20  # finished trials (complete or pruned) the study should hold in all
    space: dict = field(default_factory=lambda: search_space([], {}))
    fixed: dict = field(default_factory=dict)  # options of every trial
    storage: str | None = None  # an Optuna RDB URL; None: sqlite in `out`
    name: str = "cgan-tune"
    pruner: str = "median"
    startup_trials: int = 5  # trials that finish before the pruner compares any

    def storage_url(self) -> str:
        return self.storage or f"sqlite:///{(Path(self.out) / 'tune.db').resolve()}"

    def settings(self) -> dict:
        values = asdict(self)
        return {key: values[key] for key in SAME}

    def trial_config(self, options: dict, number: int) -> TrainConfig:
        return TrainConfig.for_dataset(
            dataset=self.dataset,
            data_dir=self.data_dir,
            out=str(Path(self.out) / "trials" / f"{number:04d}"),
            seed=self.seed,
            epochs=1_000_000,  # the budget stops training, not the epoch count
            max_seconds=self.budget_s / self.evaluations,
            eval_every_s=self.budget_s / self.evaluations,
            eval_per_class=self.eval_per_class,
            **{**self.fixed, **options},
        )

    def validate(self) -> None:
        """The fixed options, and each searched value with them, are valid before any trial trains."""
        if self.pruner not in PRUNERS:
            raise CganError(f"--pruner must be one of {', '.join(PRUNERS)}, got {self.pruner!r}")
        if self.startup_trials < 0:
            raise CganError(f"--startup-trials must be 0 or more, got {self.startup_trials}")
        self.trial_config({}, 0).validate()
        for dimension in self.space.values():
            values = dimension.values if isinstance(dimension, Choice) else (dimension.low, dimension.high)
            for value in values:
                self.trial_config({dimension.name: value}, 0).validate()
        resolve_dataset(self.dataset, self.data_dir).split("train")  # missing data would fail every trial


def import_optuna():
    try:
        import optuna
    except ImportError:
        raise CganError("cgan tune needs Optuna: pip install 'cgan[tune]'") from None
    return optuna


def run_tune(tune: TuneConfig, log=print):
    """Run trials until the study holds `tune.trials` finished ones; returns the Optuna study."""
    optuna = import_optuna()
    tune.validate()
    Path(tune.out).mkdir(parents=True, exist_ok=True)
    study = open_study(optuna, tune)
    finished_states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    finished = len(study.get_trials(deepcopy=False, states=finished_states))
    if finished:
        log(f"{study.study_name}: {finished} finished trials kept")

    def objective(trial) -> float:
        params = {name: dimension.suggest(trial) for name, dimension in tune.space.items()}
        log(f"trial {trial.number}: {describe(params)}")
        try:
            return train_trial(trial, tune.trial_config(params, trial.number))
        except CganError as exc:  # a refused combination or a diverged run fails this trial only
            log(f"trial {trial.number}: failed: {exc}")
            trial.set_user_attr("error", str(exc))
            raise
        except KeyboardInterrupt:
            trial.set_user_attr("error", "interrupted")
            raise

    def train_trial(trial, config: TrainConfig) -> float:
        config.validate()
        for measurement in range(tune.evaluations):
            config.max_seconds = tune.budget_s * (measurement + 1) / tune.evaluations
            if fit(config, resume=measurement > 0, progress=False).interrupted:
                raise KeyboardInterrupt
            summary = summarise_run(Path(config.out), config.batch_size)
            for key in (*QUALITY_COLUMNS, "training_s"):
                trial.set_user_attr(key, summary[key])
            trial.set_user_attr("measurements", len(summary["curve"]))
            trial.report(summary["fd_evaluator"], measurement)
            if trial.should_prune():
                log(f"trial {trial.number}: pruned at fd_evaluator {summary['fd_evaluator']:.3f}")
                raise optuna.TrialPruned()
        return summary["fd_evaluator"]

    try:
        study.optimize(
            objective,
            n_trials=max(tune.trials - finished, 0),
            catch=(CganError,),
            callbacks=[
                optuna.study.MaxTrialsCallback(tune.trials, states=finished_states),
                lambda study, trial: write_report(tune, study),
            ],
        )
    finally:
        write_report(tune, study)
    return study


def open_study(optuna, tune: TuneConfig):
    """The study named tune.name in its storage, created on first use; refused if made with other settings."""
    url = tune.storage_url()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            # Trials of a process that died are marked failed once their heartbeat is a few minutes old.
            storage = optuna.storages.RDBStorage(url, heartbeat_interval=60, grace_period=180)
    except Exception as exc:  # SQLAlchemy's and the drivers': a bad URL, a missing driver, no server
        raise CganError(f"cannot open the study storage {url}: {str(exc).splitlines()[0]}") from None
    pruner = (
        optuna.pruners.MedianPruner(n_startup_trials=tune.startup_trials, n_warmup_steps=1)
        if tune.pruner == "median"
        else optuna.pruners.NopPruner()
    )
    study = optuna.create_study(
        study_name=tune.name, storage=storage, direction="minimize", pruner=pruner, load_if_exists=True
    )
    settings = study.user_attrs.get("settings")
    if settings is None:
        study.set_user_attr("settings", tune.settings())
    elif settings != tune.settings():
        differing = [key for key in SAME if settings.get(key) != tune.settings()[key]]
        raise CganError(
            f"the study {tune.name!r} in {url} was made with other settings ({', '.join(differing)}); "
            "use another --name or --storage"
        )
    return study


def describe(options: dict) -> str:
    """'lr=0.000303 loss=hinge ema=none', as --space and --fix spell options."""
    return " ".join(f"{name}={spelled(value)}" for name, value in options.items())


def spelled(value) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def best_command(tune: TuneConfig, trial) -> str:
    """`cgan train` with the options of `trial`, for the tune's training time."""
    values = dict(dataset=tune.dataset, data_dir=tune.data_dir, seed=tune.seed, **tune.fixed, **trial.params)
    return shlex.join(["cgan", "train", *train_arguments({**values, "max_seconds": tune.budget_s})])


def best_trial(study):
    complete = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    return min(complete, key=lambda t: t.value) if complete else None


def markdown(tune: TuneConfig, study) -> str:
    order = {"COMPLETE": 0, "PRUNED": 1}
    trials = sorted(
        study.get_trials(deepcopy=False),
        key=lambda t: (order.get(t.state.name, 2), t.user_attrs.get("fd_evaluator", math.inf), t.number),
    )
    lines = [
        f"# Tuning: {tune.dataset}, {tune.budget_s:g} s of training per trial",
        "",
        f"Study `{study.study_name}`; seed {tune.seed}; quality by `cgan.evaluation` ({tune.eval_per_class} images "
        f"per class) at {tune.evaluations} evenly spaced moments, the last one final. Fixed for every trial: "
        f"{describe(tune.fixed) or 'nothing'}; options neither searched nor fixed keep cgan's defaults.",
        "",
        "| trial | state | fd_evaluator | class accuracy | measurements | training s | options |",
        "|---|---|---|---|---|---|---|",
    ]
    for t in trials:
        a = t.user_attrs
        quality = (
            f"{a['fd_evaluator']:.3f} | {a['class_accuracy']:.4f} | {a['measurements']} | {a['training_s']:.0f}"
            if "fd_evaluator" in a
            else " | | | "
        )
        state = t.state.name.lower() + (f": {a['error']}" if "error" in a else "")
        lines.append(f"| {t.number} | {state} | {quality} | {describe(t.params)} |")
    best = best_trial(study)
    if best is not None:
        lines += [
            "",
            f"Best: trial {best.number}. Train it with:",
            "",
            "```",
            best_command(tune, best),
            "```",
        ]
    return "\n".join(lines) + "\n"


def write_report(tune: TuneConfig, study) -> None:
    text = markdown(tune, study)
    atomic_write(Path(tune.out) / REPORT_FILE, lambda tmp: Path(tmp).write_text(text))
