"""The `cgan` command: parse arguments, call the library, print one clear line for a user's mistake."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .augment import DEFAULT_POLICY, TRANSFORMS
from .cli_serve import add_parser as add_serve_parser
from .cli_visuals import add_parsers as add_visual_parsers
from .errors import CganError
from .losses import LOSSES
from .models import D_CONDITIONINGS, G_CONDITIONINGS
from .study import RECIPES
from .train import PRECISIONS, TrainConfig

D = TrainConfig()  # the defaults of `cgan train`, shown in its --help

DATASET_NAMES = ("mnist", "fashion-mnist")


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def duration(text: str) -> float:
    """Seconds from '90', '90s', '5m' or '1.5h'."""
    units = {"s": 1, "m": 60, "h": 3600}
    number, unit = (text[:-1], text[-1]) if text[-1:] in units else (text, "s")
    try:
        seconds = float(number) * units[unit]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a duration such as 90s, 5m or 1.5h, got {text!r}"
        ) from None
    if not seconds > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text!r}")
    return seconds


def add_train_parser(commands) -> None:
    p = commands.add_parser("train", help="train a conditional GAN into a run folder")
    p.add_argument("--dataset", default="mnist", help="mnist or fashion-mnist (default: mnist)")
    p.add_argument("--data-dir", help="folder with the four IDX files (default: search the usual places)")
    p.add_argument("--out", help="run folder to write (default: runs/<dataset>)")
    p.add_argument("--resume", metavar="RUN", help="continue the run in this folder from its last checkpoint")
    p.add_argument(
        "--arch", choices=("dcgan", "mlp"), default="dcgan", help="network family (default: dcgan)"
    )
    p.add_argument(
        "--epochs", type=positive_int, default=D.epochs, help=f"train until this epoch (default: {D.epochs})"
    )
    p.add_argument("--max-steps", type=positive_int, help="stop after this many optimisation steps in all")
    p.add_argument(
        "--max-time",
        type=duration,
        help="stop after this much training time in all, e.g. 5m (not counting evaluation)",
    )
    p.add_argument(
        "--batch-size",
        type=positive_int,
        default=D.batch_size,
        help=f"images per step (default: {D.batch_size})",
    )
    p.add_argument(
        "--lr", type=float, default=D.lr, help=f"Adam learning rate of both networks (default: {D.lr:g})"
    )
    p.add_argument("--beta1", type=float, default=D.beta1, help=f"Adam beta1 (default: {D.beta1:g})")
    p.add_argument("--beta2", type=float, default=D.beta2, help=f"Adam beta2 (default: {D.beta2:g})")
    p.add_argument(
        "--latent-dim",
        type=positive_int,
        default=D.latent_dim,
        help=f"size of the noise vector (default: {D.latent_dim})",
    )
    p.add_argument("--g-width", type=positive_int, help="generator width (default: per architecture)")
    p.add_argument("--d-width", type=positive_int, help="discriminator width (default: per architecture)")
    p.add_argument(
        "--embed-dim",
        type=positive_int,
        default=D.embed_dim,
        help=f"generator label embedding size (default: {D.embed_dim})",
    )
    p.add_argument(
        "--cond-g",
        choices=G_CONDITIONINGS,
        default=D.cond_g,
        help="how the generator sees the label: label maps beside the features (concat) "
        f"or conditional batch norm (cbn) (default: {D.cond_g})",
    )
    p.add_argument(
        "--cond-d",
        choices=D_CONDITIONINGS,
        default=D.cond_d,
        help="how the discriminator sees the label: projection, a label map beside the image "
        f"(concat), or an auxiliary classifier (acgan) (default: {D.cond_d})",
    )
    p.add_argument(
        "--spectral-norm",
        action=argparse.BooleanOptionalAction,
        default=D.spectral_norm,
        help=f"spectral normalisation in the discriminator (default: {'on' if D.spectral_norm else 'off'})",
    )
    p.add_argument(
        "--loss", choices=tuple(LOSSES), default=D.loss, help=f"adversarial loss (default: {D.loss})"
    )
    p.add_argument(
        "--n-critic",
        type=positive_int,
        default=D.n_critic,
        help=f"discriminator steps per generator step (default: {D.n_critic})",
    )
    p.add_argument(
        "--gp-weight",
        type=float,
        default=D.gp_weight,
        help=f"weight of the gradient penalty of --loss wgan-gp (default: {D.gp_weight:g})",
    )
    p.add_argument(
        "--r1",
        type=float,
        default=D.r1,
        metavar="GAMMA",
        help=f"R1 penalty on real images with this gamma; 0: none (default: {D.r1 or 'none'})",
    )
    p.add_argument(
        "--augment",
        nargs="?",
        const=DEFAULT_POLICY,
        default=D.augment,
        metavar="POLICY",
        help=f"differentiable augmentation (DiffAugment) of D's inputs; POLICY is a comma-separated list of "
        f"{', '.join(TRANSFORMS)} (when given alone: {DEFAULT_POLICY}); none: off (default: {D.augment or 'none'})",
    )
    p.add_argument(
        "--ema",
        type=float,
        default=D.ema,
        help=f"keep an average of the generator weights with this decay, e.g. 0.999; 0: none (default: {D.ema or 'none'})",
    )
    p.add_argument("--clip-grad", type=float, help="clip each network's gradient to this L2 norm")
    p.add_argument(
        "--seed", type=int, default=D.seed, help=f"random seed: same seed, same run (default: {D.seed})"
    )
    p.add_argument("--threads", type=positive_int, help="CPU threads (default: PyTorch's choice)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: auto)")
    p.add_argument(
        "--precision",
        choices=PRECISIONS,
        default=D.precision,
        help=f"bf16: autocast the networks (losses stay fp32); auto: bf16 where the hardware has it (default: {D.precision})",
    )
    p.add_argument(
        "--channels-last",
        action=argparse.BooleanOptionalAction,
        default=D.channels_last,
        help=f"NHWC memory layout for the convolutions (default: {'on' if D.channels_last else 'off'})",
    )
    p.add_argument("--max-images", type=positive_int, help="train on the first N training images only")
    p.add_argument("--log-every", type=positive_int, default=10, help="steps between metrics.csv rows")
    p.add_argument(
        "--checkpoint-every", type=positive_int, help="steps between checkpoints (always: each epoch)"
    )
    p.add_argument(
        "--eval-every",
        type=positive_int,
        help="measure quality every N epochs into metrics.csv and keep the best generator in best.safetensors",
    )
    p.add_argument(
        "--eval-every-time", type=duration, help="the same, every this much training time, e.g. 30s"
    )
    p.add_argument(
        "--eval-per-class", type=positive_int, default=500, help="images per class for --eval-every"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(handler=run_train)


def run_train(args) -> int:
    from dataclasses import asdict

    from .train import RESUMABLE, TrainConfig, fit

    config = TrainConfig(
        dataset=args.dataset,
        data_dir=args.data_dir,
        out=args.resume or args.out or f"runs/{args.dataset}",
        arch=args.arch,
        latent_dim=args.latent_dim,
        g_width=args.g_width,
        d_width=args.d_width,
        embed_dim=args.embed_dim,
        cond_g=args.cond_g,
        cond_d=args.cond_d,
        spectral_norm=args.spectral_norm,
        epochs=args.epochs,
        max_steps=args.max_steps,
        max_seconds=args.max_time,
        batch_size=args.batch_size,
        lr=args.lr,
        beta1=args.beta1,
        beta2=args.beta2,
        loss=args.loss,
        n_critic=args.n_critic,
        gp_weight=args.gp_weight,
        r1=args.r1 or None,
        augment=None if args.augment in (None, "none") else args.augment,
        ema=args.ema or None,
        clip_grad=args.clip_grad,
        seed=args.seed,
        threads=args.threads,
        device=args.device,
        precision=args.precision,
        channels_last=args.channels_last,
        max_images=args.max_images,
        log_every=args.log_every,
        checkpoint_every=args.checkpoint_every,
        eval_every=args.eval_every,
        eval_every_s=args.eval_every_time,
        eval_per_class=args.eval_per_class,
    )
    if args.resume:
        # The run's own config.json decides everything else; a flag that tries to change it is a mistake.
        defaults, given = asdict(TrainConfig(out=config.out)), asdict(config)
        changed = [name for name in defaults if name not in RESUMABLE and given[name] != defaults[name]]
        changed += ["out"] if args.out else []
        if changed:
            flags = ", ".join("--" + name.replace("_", "-") for name in changed)
            allowed = ", ".join("--" + name.replace("_", "-") for name in RESUMABLE)
            raise CganError(f"{flags} cannot change when resuming; only {allowed} can")
    result = fit(config, resume=bool(args.resume), progress=not args.no_progress)
    summary = (
        f"{result.run_dir}: step {result.step} (epoch {result.epoch}), {result.wall_s:.1f} s, "
        f"{result.images_per_s:.0f} images/s"
    )
    if result.interrupted:
        print(f"stopped and saved at {summary}; continue with: cgan train --resume {result.run_dir}")
        return 130
    print(f"done: {summary}")
    return 0


def add_generate_parser(commands) -> None:
    p = commands.add_parser("generate", help="generate images of chosen classes")
    p.add_argument("run", nargs="?", help="run folder (default: the bundled generator of --dataset)")
    p.add_argument("--dataset", choices=DATASET_NAMES, help="use the bundled generator for this dataset")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--label", nargs="+", help="class index or name, e.g. 7 or sneaker; several give rows")
    which.add_argument("--all", action="store_true", help="every class, one row each")
    p.add_argument("--count", type=positive_int, default=16, help="images per class (default: 16)")
    p.add_argument("--seed", type=int, help="random seed (default: a fresh one, printed)")
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--out", help="a .png grid or an .npz with images (N,H,W) uint8 and labels (N,)")
    target.add_argument("--out-dir", help="a folder to receive one PNG per image")
    p.add_argument("--scale", type=positive_int, default=1, help="enlarge PNG output this many times")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default: cpu)")
    p.set_defaults(handler=run_generate)


MAX_GENERATE = 1_000_000


def run_generate(args) -> int:
    import math

    import numpy as np

    from .sampling import load_generator, make_grid, random_seed, save_npz, save_png
    from .train import resolve_device

    if bool(args.run) == bool(args.dataset):
        raise CganError("give either a run folder or --dataset NAME (for the bundled generator), not both")
    generator = load_generator(args.run or args.dataset, device=resolve_device(args.device))
    classes = range(len(generator.classes)) if args.all else [generator.label_index(x) for x in args.label]
    labels = np.repeat(np.array(list(classes), dtype=np.int64), args.count)
    if len(labels) > MAX_GENERATE:
        raise CganError(f"{len(labels)} images asked for; at most {MAX_GENERATE} at once")
    seed = random_seed() if args.seed is None else args.seed
    images = generator.generate(labels.tolist(), seed=seed)

    if args.out_dir:
        folder = Path(args.out_dir)
        for i, (image, label) in enumerate(zip(images, labels, strict=True)):
            save_png(folder / f"{i:05d}_{generator.classes[label]}.png", image, args.scale)
        written = f"{len(images)} PNGs in {folder}"
    else:
        out = Path(args.out)
        if out.suffix.lower() == ".npz":
            save_npz(out, images, labels)
        elif out.suffix.lower() == ".png":
            one_class = len(set(labels.tolist())) == 1
            columns = math.ceil(math.sqrt(len(images))) if one_class else args.count
            save_png(out, make_grid(images, columns), args.scale)
        else:
            raise CganError(f"--out must end in .png or .npz, got {out.name!r}")
        written = str(out)
    names = ", ".join(generator.classes[i] for i in classes)
    print(f"wrote {written}: {len(images)} images of {names} (seed {seed})")
    return 0


def add_data_parser(commands) -> None:
    p = commands.add_parser("data", help="find or download datasets")
    sub = p.add_subparsers(dest="data_command", required=True)
    download = sub.add_parser("download", help="download a dataset from its official mirrors, verified")
    download.add_argument("dataset", help="mnist or fashion-mnist")
    download.add_argument("--dest", help="target folder (default: the user cache, ~/.cache/cgan/<dataset>)")
    download.set_defaults(handler=run_data_download)
    where = sub.add_parser("where", help="print the folder a dataset would be read from")
    where.add_argument("dataset", help="mnist or fashion-mnist")
    where.add_argument("--data-dir", help="folder to look in first")
    where.set_defaults(handler=run_data_where)


def run_data_download(args) -> int:
    from . import data

    folder = data.download(args.dataset, dest=args.dest, progress=sys.stderr.isatty())
    print(f"{data.get_spec(args.dataset).name} is ready in {folder}")
    return 0


def run_data_where(args) -> int:
    from . import data

    print(data.find_data_dir(args.dataset, args.data_dir))
    return 0


# --- evaluation: the evaluator network and the metrics (cgan.evaluate) -------------------------


def add_train_evaluator_parser(commands) -> None:
    p = commands.add_parser("train-evaluator", help="train the classifier that `cgan evaluate` measures with")
    p.add_argument("--dataset", choices=DATASET_NAMES, default="mnist", help="default: mnist")
    p.add_argument("--epochs", type=positive_int, help="default: 6 for mnist, 10 for fashion-mnist")
    p.add_argument(
        "--out", default="evaluators", help="folder for <dataset>.safetensors (default: evaluators)"
    )
    p.add_argument("--data-dir", help="folder with the four IDX files (default: search the usual places)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--threads", type=positive_int, help="CPU threads (default: PyTorch's choice)")
    p.set_defaults(handler=run_train_evaluator)


def run_train_evaluator(args) -> int:
    import torch

    from .evaluate import DEFAULT_EPOCHS, train_evaluator

    if args.threads:
        torch.set_num_threads(args.threads)
    epochs = args.epochs or DEFAULT_EPOCHS[args.dataset]
    command = f"cgan train-evaluator --dataset {args.dataset} --epochs {epochs} --seed {args.seed}"
    command += f" --out {args.out}" + (f" --threads {args.threads}" if args.threads else "")
    meta = train_evaluator(
        args.dataset, args.data_dir, epochs, args.seed, args.out, progress=True, command=command
    )
    print(
        f"wrote {Path(args.out) / args.dataset}.safetensors: test accuracy {meta['test_accuracy']:.4f} "
        f"after {epochs} epochs ({meta['wall_s']:.0f} s)"
    )
    return 0


def add_evaluate_parser(commands) -> None:
    p = commands.add_parser("evaluate", help="measure generated images against the real test split")
    p.add_argument(
        "source", nargs="?", help="run folder, samples .npz or folder of PNGs (default: bundled generator)"
    )
    p.add_argument(
        "--dataset",
        choices=DATASET_NAMES,
        help="dataset of an .npz or PNG folder; alone: its bundled generator",
    )
    p.add_argument("--real", action="store_true", help="evaluate real train images instead (the floor)")
    p.add_argument("--per-class", type=positive_int, help="images per class to generate (default: 1000)")
    p.add_argument("--seed", type=int, default=0, help="seed of every random choice (default: 0)")
    p.add_argument("--no-cas", action="store_true", help="skip the classification accuracy score (faster)")
    p.add_argument("--no-floor", action="store_true", help="skip the real-data floor beside the numbers")
    p.add_argument("--inception", action="store_true", help="add the Inception FID (needs torch-fidelity)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.add_argument("--data-dir", help="folder with the four IDX files (default: search the usual places)")
    p.add_argument("--evaluator", help="evaluator weights file (default: the one shipped with cgan)")
    p.add_argument("--threads", type=positive_int, help="CPU threads (default: PyTorch's choice)")
    p.set_defaults(handler=run_evaluate)


EVALUATE_ROWS = (
    "class_accuracy",
    "fd_evaluator",
    "fd_evaluator_per_class_mean",
    "precision",
    "recall",
    "cas",
    "cas_real",
    "fid_inception",
)


def _is_sample_file(source: Path) -> bool:
    """An .npz or a folder of PNGs, as opposed to a run folder or a bundled generator's name."""
    from .sampling import MODEL_FILE

    return source.suffix.lower() == ".npz" or (source.is_dir() and not (source / MODEL_FILE).is_file())


def _evaluate_source(args, per_class: int, evaluator) -> tuple[dict, str, list[int]]:
    """Metrics of what `cgan evaluate` was pointed at, a description of it, and its images per class."""
    import numpy as np

    from . import evaluate
    from .sampling import load_generator

    options = dict(seed=args.seed, cas=not args.no_cas, data_dir=args.data_dir, inception=args.inception)
    if args.source and _is_sample_file(Path(args.source)):
        if not args.dataset:
            raise CganError(
                f"say which dataset {args.source} holds: --dataset {' or --dataset '.join(DATASET_NAMES)}"
            )
        if args.per_class:
            raise CganError("--per-class is for generators; an .npz or PNG folder is evaluated as it is")
        source = Path(args.source)
        if source.suffix.lower() == ".npz":
            images, labels = evaluate.read_npz(source)
        else:
            images, labels = evaluate.read_png_folder(source, args.dataset)
        result = evaluate.evaluate_images(
            images, labels, args.dataset, evaluator=evaluator(args.dataset), **options
        )
        counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=len(result["per_class_accuracy"]))
        return result, f"{source} ({len(images)} images)", counts.tolist()
    if not args.source and not args.dataset:
        raise CganError(
            "give a run folder, an .npz, a folder of PNGs, or --dataset NAME for the bundled generator"
        )
    generator = load_generator(args.source or args.dataset)
    if args.source and args.dataset and generator.dataset != args.dataset:
        raise CganError(f"{args.source} was trained on {generator.dataset}, not {args.dataset}")
    result = evaluate.evaluate_generator(
        generator, per_class, evaluator=evaluator(generator.dataset), **options
    )
    return result, f"{generator.source} ({per_class} per class)", [per_class] * len(generator.classes)


def _print_evaluation(title: str, columns: dict[str, dict]) -> None:
    from .data import get_spec

    names = list(columns)
    print(title)
    print(f"{'':30}" + "".join(f"{name:>14}" for name in names))
    for key in EVALUATE_ROWS:
        if any(key in column for column in columns.values()):
            cells = [columns[name].get(key) for name in names]
            print(f"{key:30}" + "".join(f"{'-' if v is None else format(v, '.4f'):>14}" for v in cells))
    classes = get_spec(next(iter(columns.values()))["dataset"]).classes
    for name, column in columns.items():
        accuracies = column["per_class_accuracy"]
        cells = ", ".join(
            f"{c} {'-' if a is None else format(a, '.3f')}" for c, a in zip(classes, accuracies, strict=True)
        )
        print(f"per-class accuracy, {name}: {cells}")


def run_evaluate(args) -> int:
    import functools
    import json
    import time

    import torch

    from . import evaluate

    if args.threads:
        torch.set_num_threads(args.threads)
    started = time.perf_counter()
    per_class = args.per_class or 1000

    @functools.cache  # one object per dataset, so its real-data features are computed once
    def evaluator(dataset):
        return evaluate.load_evaluator(dataset, args.evaluator) if args.evaluator else None

    if args.real:
        if args.source or not args.dataset:
            raise CganError("--real evaluates real train images: give --dataset NAME and no SOURCE")
        if args.inception:
            raise CganError("--inception is for generated images, not with --real")
        result = evaluate.evaluate_real(
            args.dataset, per_class, args.seed, args.data_dir, not args.no_cas, evaluator(args.dataset)
        )
        title, columns = f"{args.dataset}: real train images ({per_class} per class)", {"real train": result}
        output = {"source": "real train", **result}
    else:
        result, source, counts = _evaluate_source(args, per_class, evaluator)
        title, columns = f"{result['dataset']}: {source}", {"generated": result}
        output = {"source": source, **result}
        if not args.no_floor:
            dataset = result["dataset"]
            floor = evaluate.evaluate_real(
                dataset,
                seed=args.seed,
                data_dir=args.data_dir,
                cas=not args.no_cas,
                evaluator=evaluator(dataset),
                counts=counts,
            )
            columns["real floor"] = output["floor"] = floor
    output["wall_s"] = round(time.perf_counter() - started, 1)
    if args.json:
        print(json.dumps(output))
    else:
        _print_evaluation(f"{title}, seed {args.seed}, {output['wall_s']:.1f} s", columns)
    return 0


def add_study_parser(commands) -> None:
    p = commands.add_parser(
        "study",
        help="train several variants for the same time budget and compare their quality",
        description="Each variant is a +-joined list of recipes and option=value settings on top of the "
        "defaults, e.g. hinge, wgan-gp, hinge+ema+augment, hinge+lr=6e-4+batch_size=128. "
        "Recipes: " + ", ".join(RECIPES) + ".",
    )
    p.add_argument("--dataset", default="mnist", help="mnist or fashion-mnist (default: mnist)")
    p.add_argument("--data-dir", help="folder with the four IDX files (default: search the usual places)")
    p.add_argument(
        "--variants", required=True, help="comma-separated variants, e.g. vanilla,wgan-gp,hinge,hinge+ema"
    )
    p.add_argument(
        "--budget",
        type=duration,
        default=300.0,
        help="training time per variant, e.g. 90s or 5m (default: 5m)",
    )
    p.add_argument("--out", help="study folder (default: studies/<dataset>)")
    p.add_argument("--seed", type=int, default=0, help="the seed of every variant (default: 0)")
    p.add_argument(
        "--evaluations", type=positive_int, default=6, help="quality measurements per variant (default: 6)"
    )
    p.add_argument(
        "--eval-per-class",
        type=positive_int,
        default=500,
        help="images per class per measurement (default: 500)",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="OPTION=VALUE",
        help="an option for every variant, e.g. --set g_width=64 (repeatable)",
    )
    p.add_argument("--threads", type=positive_int, help="CPU threads (default: PyTorch's choice)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(handler=run_study_command)


def run_study_command(args) -> int:
    from .study import REPORT_FILE, StudyConfig, parse_setting, ranked, run_study

    study = StudyConfig(
        dataset=args.dataset,
        variants=[v.strip() for v in args.variants.split(",") if v.strip()],
        budget_s=args.budget,
        out=args.out or f"studies/{args.dataset}",
        seed=args.seed,
        data_dir=args.data_dir,
        evaluations=args.evaluations,
        eval_per_class=args.eval_per_class,
        base=dict(parse_setting(text) for text in args.set),
        threads=args.threads,
    )
    report = run_study(study, progress=not args.no_progress)
    best = ranked(report["results"])[0]
    print(
        f"wrote {Path(study.out) / REPORT_FILE}; best: {best['variant']} "
        f"(class accuracy {best['class_accuracy']:.4f}, fd_evaluator {best['fd_evaluator']:.3f})"
    )
    return 0


def add_export_parser(commands) -> None:
    p = commands.add_parser(
        "export",
        help="export a generator to ONNX or as a web page that needs no server (needs: pip install 'cgan[onnx]')",
    )
    p.add_argument("run", help="run folder, weights file (e.g. RUN/best.safetensors) or bundled name (mnist)")
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--onnx", metavar="FILE", help="the .onnx file to write")
    target.add_argument(
        "--web", metavar="DIR", help="a folder to receive a static page that draws images in the browser"
    )
    p.set_defaults(handler=run_export)


def run_export(args) -> int:
    if args.web:
        from .web_demo import export_web_demo

        demo = export_web_demo(args.run, args.web)
        print(
            f"wrote {demo.folder}: a static page, {demo.size_bytes / 1e6:.1f} MB, that draws images in the browser "
            f"(largest difference of its ONNX graph from PyTorch {demo.worst_difference:.1e}); "
            f"try it: python -m http.server -d {demo.folder}"
        )
        return 0
    from .export import export_onnx

    worst = export_onnx(args.run, args.onnx)
    print(
        f"wrote {args.onnx}: inputs z (batch, latent) float32 and labels (batch,) int64; "
        f"largest difference from PyTorch {worst:.1e}"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cgan", description="Class-conditional GANs: train, generate, evaluate."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    add_train_parser(commands)
    add_generate_parser(commands)
    add_data_parser(commands)
    add_train_evaluator_parser(commands)
    add_evaluate_parser(commands)
    add_study_parser(commands)
    add_export_parser(commands)
    add_visual_parsers(commands)
    add_serve_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except CganError as exc:
        print(f"cgan: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("cgan: interrupted; what was finished is saved", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
