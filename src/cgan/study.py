"""A comparison study: train several variants for the same wall-clock budget and compare their quality.

A variant is a `+`-joined list of named recipes and `option=value` settings on top of the project's
defaults, e.g. `hinge`, `wgan-gp`, `hinge+ema+augment` or `hinge+lr=6e-4+batch_size=128`. Every variant
trains from the same seed on the same data for the same training time (evaluation excluded), is measured
by the evaluator at evenly spaced moments, and ends up as one row of a Markdown and JSON report.
A study that is stopped picks up where it stopped: finished variants are kept, an unfinished one resumes,
and variants added to the list are trained alone. With `jobs` above 1 the variants train as separate
`cgan train` processes, that many at a time, each on one CPU thread unless `threads` says otherwise.
"""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import torch

from .checkpoint import atomic_write, read_json, write_json
from .errors import CganError
from .run_folder import QUALITY_COLUMNS, RunFolder
from .training import TrainConfig, fit
from .training.config import config_field, train_arguments
from .training.schedule import StopSignal

# Named recipes. Each one changes what its name says and nothing else, so recipes compose.
RECIPES: dict[str, dict] = {
    "default": {},
    "vanilla": {"loss": "vanilla"},
    "hinge": {"loss": "hinge"},
    "lsgan": {"loss": "lsgan"},
    # Gulrajani et al. (2017): five critic steps per generator step, Adam betas (0, 0.9), no SN needed.
    "wgan-gp": {"loss": "wgan-gp", "n_critic": 5, "beta1": 0.0, "beta2": 0.9, "spectral_norm": False},
    "concat": {"cond_d": "concat"},
    "projection": {"cond_d": "projection"},
    "acgan": {"cond_d": "acgan"},
    "cbn": {"cond_g": "cbn"},
    "sn": {"spectral_norm": True},
    "no-sn": {"spectral_norm": False},
    "ema": {"ema": 0.999},
    "augment": {"augment": "translation,cutout"},
    "r1": {"r1": 1.0},
    "mlp": {"arch": "mlp"},
    "deep-d": {"d_depth": 2},
    "mbstd": {"minibatch_std": True},
    # 0.1, not the paper's 1: on MNIST 1 cost 2 points of class accuracy, 0.1 helped (docs/studies/).
    "msgan": {"mode_seeking": 0.1},
    "top-k": {"top_k": 0.5},  # the paper's recommended smallest share
    "cr": {"consistency": 10.0},  # the paper's weight
}
STUDY_FILE = "study.json"
REPORT_FILE = "study.md"
# Options a variant may not set: the study decides them for every variant alike.
STUDY_OWNED = ("dataset", "data_dir", "out", "seed", "max_seconds", "eval_every_s", "eval_every", "epochs")


def parse_setting(text: str) -> tuple[str, object]:
    """'lr=6e-4' -> ('lr', 0.0006), typed by the TrainConfig field of that name."""
    name, _, raw = text.partition("=")
    name = option_name(name, text)
    if name in STUDY_OWNED:
        raise CganError(f"{name} is set by the study for all variants alike; it cannot differ between them")
    return name, typed_value(name, raw.strip(), text)


def option_name(name: str, text: str) -> str:
    """The TrainConfig field `name` ('max-images' or 'max_images') as written in `text`."""
    name = name.strip().replace("-", "_")
    names = [f.name for f in fields(TrainConfig)]
    if name not in names:
        raise CganError(f"unknown option {name!r} in {text!r}; options are {', '.join(names)}")
    return name


def typed_value(name: str, raw: str, text: str) -> object:
    """`raw` as a value of the TrainConfig field `name`; 'none' is None where the field may be None."""
    kind = str(config_field(name).type)
    try:
        if raw.lower() == "none" and "None" in kind:
            return None
        if kind.startswith("bool"):
            if raw.lower() not in ("true", "false"):
                raise ValueError
            return raw.lower() == "true"
        if kind.startswith("int"):
            return int(raw)
        if kind.startswith("float"):
            return float(raw)
    except ValueError:
        raise CganError(f"{text!r}: {raw!r} is not a valid {kind.split(' ')[0]}") from None
    return raw


def variant_options(variant: str) -> dict:
    """The TrainConfig options of a variant such as 'hinge+ema+lr=6e-4'."""
    options: dict = {}
    for part in variant.split("+"):
        part = part.strip()
        if "=" in part:
            name, value = parse_setting(part)
            options[name] = value
        elif part in RECIPES:
            options.update(RECIPES[part])
        else:
            raise CganError(
                f"unknown variant part {part!r} in {variant!r}; use option=value or one of {', '.join(RECIPES)}"
            )
    return options


@dataclass
class StudyConfig:
    dataset: str = "mnist"
    variants: list[str] = field(default_factory=lambda: ["vanilla", "hinge"])
    budget_s: float = 300.0  # training time of each variant
    out: str = "studies/mnist"
    seed: int = 0
    data_dir: str | None = None
    evaluations: int = 6  # quality measurements per variant, evenly spaced in its budget
    eval_per_class: int = 500
    base: dict = field(default_factory=dict)  # options applied to every variant before its own
    threads: int | None = None
    jobs: int = 1  # variants trained at the same time, each in its own process

    def variant_config(self, variant: str) -> TrainConfig:
        options = {**self.base, **variant_options(variant)}
        if self.threads is not None and "threads" not in options:
            options["threads"] = self.threads
        config = TrainConfig.for_dataset(
            dataset=self.dataset,
            data_dir=self.data_dir,
            out=str(Path(self.out) / folder_name(variant)),
            seed=self.seed,
            epochs=1_000_000,  # the budget stops training, not the epoch count
            max_seconds=self.budget_s,
            eval_every_s=self.budget_s / self.evaluations,
            eval_per_class=self.eval_per_class,
            **options,
        )
        config.validate()
        return config


def folder_name(variant: str) -> str:
    return variant.replace("/", "_").replace(os.sep, "_")


def run_variant(study: StudyConfig, variant: str, progress: bool) -> dict:
    """Train one variant (or finish it, if an earlier study stopped in it) and summarise its run."""
    config = study.variant_config(variant)
    resume = RunFolder(config.out).has_checkpoint()
    start = time.perf_counter()
    result = fit(config, resume=resume, progress=progress)
    if result.interrupted:
        raise KeyboardInterrupt
    return variant_summary(variant, config, start, resume)


def variant_summary(variant: str, config: TrainConfig, start: float, resumed: bool) -> dict:
    summary = summarise_run(Path(config.out), config.batch_size)
    summary.update(
        variant=variant,
        options=variant_options(variant),
        wall_s=round(time.perf_counter() - start, 1),
        resumed=resumed,
    )
    return summary


def summarise_run(run_dir: Path, batch_size: int) -> dict:
    """Final quality, the quality curve over training time and the training speed of a finished run."""
    metrics = RunFolder(run_dir).metrics.read()
    measured = [i for i, value in enumerate(metrics["fd_evaluator"]) if not math.isnan(value)]
    if not measured:
        raise CganError(f"{run_dir} has no quality measurements; was it trained with an evaluation interval?")
    curve = [
        {"elapsed_s": float(metrics["elapsed_s"][i]), **{k: float(metrics[k][i]) for k in QUALITY_COLUMNS}}
        for i in measured
    ]
    steps = int(metrics["step"][measured[-1]])
    training_s = curve[-1]["elapsed_s"]
    return {
        **{k: curve[-1][k] for k in QUALITY_COLUMNS},
        "best_fd_evaluator": min(point["fd_evaluator"] for point in curve),
        "steps": steps,
        "training_s": training_s,
        "images_per_s": round(steps * batch_size / training_s, 1),
        "curve": curve,
    }


# The defaults a report names: the variants are changes to them, and they change between versions.
SHOWN_DEFAULTS = (
    "arch", "loss", "lr", "batch_size", "ema", "g_width", "cond_g", "cond_d", "mode_seeking", "spectral_norm", "precision",
)  # fmt: skip


def defaults(dataset: str) -> dict:
    """What the variants of a study of `dataset` change: the defaults, the dataset's own among them."""
    return asdict(TrainConfig.for_dataset(dataset=dataset))


def machine() -> dict:
    return {
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
    }


def run_study(study: StudyConfig, progress: bool = True, log=print) -> dict:
    """Train every variant (in turn, or `jobs` at a time), writing study.json and study.md after each one."""
    if not study.variants:
        raise CganError("no variants given")
    if len(set(study.variants)) != len(study.variants):
        raise CganError("a variant is listed twice")
    if study.jobs > 1 and study.threads is None:
        study = replace(study, threads=1)  # variants running side by side would fight over the cores
    for variant in study.variants:
        study.variant_config(variant)  # every variant is valid before the first one trains
    out = Path(study.out)
    out.mkdir(parents=True, exist_ok=True)
    if study.threads:
        torch.set_num_threads(study.threads)  # before machine() records it
    finished = finished_results(out, study)
    report = {"study": asdict(study), "defaults": defaults(study.dataset), "machine": machine(), "results": []}
    results: dict[str, dict] = {}

    def keep(variant: str, result: dict) -> None:
        results[variant] = result
        report["results"] = [results[v] for v in study.variants if v in results]
        write_report(out, report)

    waiting = []
    for number, variant in enumerate(study.variants, 1):
        if variant in finished:
            log(f"[{number}/{len(study.variants)}] {variant}: finished earlier, kept")
            keep(variant, finished[variant])
        elif study.jobs == 1:
            log(f"[{number}/{len(study.variants)}] {variant}")
            keep(variant, run_variant(study, variant, progress))
        else:
            waiting.append(variant)
    if waiting:
        run_in_processes(study, waiting, keep, log)
    return report


def run_in_processes(study: StudyConfig, variants: list[str], keep, log) -> None:
    """Train the variants as `cgan train` processes, study.jobs at a time, calling keep(variant, summary) as
    each finishes. Ctrl-C or SIGTERM stops them all (each saves, to resume next time); so does a failed one."""
    waiting = list(variants)
    running: dict[str, VariantProcess] = {}
    failure: str | None = None
    with StopSignal() as stop:
        try:
            while running or (waiting and not stop.requested and failure is None):
                while waiting and len(running) < study.jobs and not stop.requested and failure is None:
                    variant = waiting.pop(0)
                    log(f"[{study.variants.index(variant) + 1}/{len(study.variants)}] {variant}: started")
                    running[variant] = VariantProcess(study, variant)
                time.sleep(0.2)
                for variant, process in list(running.items()):
                    if (stop.requested or failure) and not process.stopping:
                        process.stop()
                    if process.popen.poll() is None:
                        continue
                    del running[variant]
                    if process.popen.returncode == 0:
                        summary = variant_summary(variant, process.config, process.started, process.resumed)
                        keep(variant, summary)
                        log(f"{variant}: finished")
                    elif not process.stopping:
                        failure = failure or f"{variant}: {process.last_line()}"
                    process.output.close()
        finally:
            for process in running.values():  # left only by an exception here, e.g. a second Ctrl-C
                process.stop()
                process.popen.wait()
    if failure:
        raise CganError(failure)
    if stop.requested:
        raise KeyboardInterrupt


class VariantProcess:
    """One variant trained by a `cgan train` process; its output is kept aside for the message if it fails."""

    def __init__(self, study: StudyConfig, variant: str):
        self.config = study.variant_config(variant)
        self.resumed = RunFolder(self.config.out).has_checkpoint()
        options = {k: v for k, v in self.config.to_dict().items() if k != "out"}
        where = ["--resume" if self.resumed else "--out", self.config.out]
        self.output = tempfile.TemporaryFile()
        self.stopping = False
        self.started = time.perf_counter()
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "cgan", "train", *where, *train_arguments(options), "--no-progress"],
            stdout=self.output,
            stderr=subprocess.STDOUT,
        )

    def stop(self) -> None:
        """Ask the process to save and stop, as Ctrl-C would."""
        self.stopping = True
        self.popen.terminate()

    def last_line(self) -> str:
        self.output.seek(0)
        lines = self.output.read().decode(errors="replace").strip().splitlines()
        return lines[-1].removeprefix("cgan: error: ") if lines else f"exit status {self.popen.returncode}"


def finished_results(out: Path, study: StudyConfig) -> dict[str, dict]:
    """Results of an earlier run of the same study in `out` (same dataset, budget, seed, base options and
    measurements), by variant: adding variants to a study trains only the new ones."""
    path = out / STUDY_FILE
    if not path.exists():
        return {}
    earlier = read_json(path, "study report")
    same = ("dataset", "budget_s", "seed", "evaluations", "eval_per_class", "base")
    if any(earlier.get("study", {}).get(key) != getattr(study, key) for key in same):
        raise CganError(
            f"{out} holds a study with other settings ({', '.join(same)} must match); choose another --out"
        )
    if earlier.get("defaults") != defaults(study.dataset):
        raise CganError(
            f"{out} holds a study made with other training defaults (another cgan); choose another --out"
        )
    return {result["variant"]: result for result in earlier.get("results", [])}


def ranked(results: list[dict]) -> list[dict]:
    """Best first: lowest final fd_evaluator (the distance to the real images of every class)."""
    return sorted(results, key=lambda r: r["fd_evaluator"])


def markdown(report: dict) -> str:
    study = report["study"]
    results = ranked(report["results"])
    budget = study["budget_s"]
    lines = [
        f"# Study: {study['dataset']}, {budget:g} s of training per variant",
        "",
        f"Seed {study['seed']}; quality by `cgan.evaluation` ({study['eval_per_class']} images per class) at "
        f"{study['evaluations']} evenly spaced moments; evaluation time is not training time. "
        f"Machine: {report['machine']['cpu_count']} CPUs, torch {report['machine']['torch']}, "
        f"threads: {report['machine']['torch_threads']}"
        + (f", {study['jobs']} variants at a time." if study["jobs"] > 1 else "."),
        "",
        "Best first (lowest final fd_evaluator). Each variant changes the defaults of the cgan that ran the "
        "study: " + ", ".join(f"{k}={report['defaults'][k]}" for k in SHOWN_DEFAULTS) + "; and for every "
        "variant: " + (", ".join(f"{k}={v}" for k, v in study["base"].items()) or "nothing else") + ".",
        "",
        "| variant | class accuracy | fd_evaluator | precision | recall | images/s | steps | training s | wall s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['variant']} | {r['class_accuracy']:.4f} | {r['fd_evaluator']:.3f} | {r['precision']:.3f} | "
            f"{r['recall']:.3f} | {r['images_per_s']:.0f} | {r['steps']} | {r['training_s']:.0f} | {r['wall_s']:.0f} |"
        )
    lines += ["", "## Class accuracy against training time", ""]
    lines += curve_table(results, "class_accuracy", "{:.3f}")
    lines += ["", "## fd_evaluator against training time", ""]
    lines += curve_table(results, "fd_evaluator", "{:.2f}")
    lines += [
        "",
        "Options of each variant, on top of those defaults:",
        "",
        *(f"- `{r['variant']}`: {json.dumps(r['options'])}" for r in results),
        "",
    ]
    return "\n".join(lines)


def curve_table(results: list[dict], key: str, number: str) -> list[str]:
    """One row per variant, one column per measurement (the seconds of training at which it was taken)."""
    points = max(len(r["curve"]) for r in results)
    header = "| variant | " + " | ".join(f"#{i + 1}" for i in range(points)) + " |"
    rows = [header, "|---" * (points + 1) + "|"]
    for r in results:
        cells = [f"{number.format(p[key])} @ {p['elapsed_s']:.0f}s" for p in r["curve"]]
        cells += [""] * (points - len(cells))
        rows.append(f"| {r['variant']} | " + " | ".join(cells) + " |")
    return rows


def write_report(out: Path, report: dict) -> None:
    write_json(out / STUDY_FILE, report)
    text = markdown(report)
    atomic_write(out / REPORT_FILE, lambda tmp: Path(tmp).write_text(text))
