"""`cgan study`: several variants trained for the same time budget, compared on quality."""

from __future__ import annotations

import sys
from contextlib import nullcontext
from pathlib import Path

from ..progress import bars_on_terminal
from ..study import RECIPES
from ..units import duration, positive_int, seed_number, thread_count


def add_parser(commands) -> None:
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
    p.add_argument("--seed", type=seed_number, default=0, help="the seed of every variant (default: 0)")
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
    p.add_argument(
        "--threads",
        type=thread_count,
        help="CPU threads of each variant (default: 1 when --jobs is above 1, else PyTorch's choice)",
    )
    p.add_argument(
        "--jobs",
        type=positive_int,
        default=1,
        help="variants trained at the same time, each as its own cgan train process (default: 1, in turn)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(handler=run)


def run(args) -> int:
    from ..study import REPORT_FILE, StudyConfig, parse_setting, ranked, run_study

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
        jobs=args.jobs,
    )
    with nullcontext() if args.no_progress else bars_on_terminal():
        report = run_study(study, progress=not args.no_progress and sys.stderr.isatty())
    best = ranked(report["results"])[0]
    print(
        f"wrote {Path(study.out) / REPORT_FILE}; best: {best['variant']} "
        f"(class accuracy {best['class_accuracy']:.4f}, fd_evaluator {best['fd_evaluator']:.3f})"
    )
    return 0


