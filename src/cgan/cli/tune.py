"""`cgan tune`: Optuna searches the training options; the best trial comes out as a `cgan train` command."""

from __future__ import annotations

from pathlib import Path

from ..units import duration, positive_int, seed_number


def add_parser(commands) -> None:
    from ..tune import DEFAULT_SPACE, PRUNERS

    p = commands.add_parser(
        "tune",
        help="search the training options with Optuna, pruning trials that fall behind",
        description="Each trial trains for --budget and is measured --evaluations times; a trial whose "
        "fd_evaluator falls behind the median of the completed ones at the same point is stopped. The study is "
        "stored in OUT/tune.db (or --storage): run the same command again to continue it, or on several "
        "machines with one shared database. Default search space: " + " ".join(DEFAULT_SPACE) + ".",
    )
    p.add_argument("--dataset", default="mnist", help="mnist or fashion-mnist (default: mnist)")
    p.add_argument("--data-dir", help="folder with the four IDX files (default: search the usual places)")
    p.add_argument("--out", help="folder for the trials' runs and tune.md (default: tuning/<dataset>)")
    p.add_argument("--trials", type=positive_int, default=20, help="finished trials in all (default: 20)")
    p.add_argument("--budget", type=duration, default=120.0, help="training time per trial (default: 2m)")
    p.add_argument(
        "--evaluations", type=positive_int, default=4, help="quality measurements per trial (default: 4)"
    )
    p.add_argument(
        "--eval-per-class",
        type=positive_int,
        default=500,
        help="images per class per measurement (default: 500)",
    )
    p.add_argument("--seed", type=seed_number, default=0, help="the training seed of every trial (default: 0)")
    p.add_argument(
        "--space",
        action="append",
        default=[],
        metavar="OPTION=RANGE|CHOICES",
        help="search an option over LOW:HIGH, LOW:HIGH:log or A,B,C, in place of its default space, "
        "e.g. --space lr=1e-4:1e-3:log --space loss=lsgan,hinge (repeatable)",
    )
    p.add_argument(
        "--fix",
        action="append",
        default=[],
        metavar="OPTION=VALUE",
        help="an option of every trial, taken out of the search, e.g. --fix batch_size=128 (repeatable)",
    )
    p.add_argument(
        "--no-default-space", action="store_true", help="search only the options given with --space"
    )
    p.add_argument("--storage", help="an Optuna database URL (default: sqlite:///OUT/tune.db)")
    p.add_argument("--name", default="cgan-tune", help="the study's name in its storage (default: cgan-tune)")
    p.add_argument(
        "--pruner", choices=PRUNERS, default="median", help="when to stop a trial early (default: median)"
    )
    p.add_argument(
        "--startup-trials",
        type=int,
        default=5,
        help="trials that complete before any is pruned (default: 5)",
    )
    p.set_defaults(handler=run)


def run(args) -> int:
    from .. import tune as tuner

    fixed = dict(tuner.parse_fixed(text) for text in args.fix)
    tune = tuner.TuneConfig(
        dataset=args.dataset,
        data_dir=args.data_dir,
        out=args.out or f"tuning/{args.dataset}",
        seed=args.seed,
        budget_s=args.budget,
        evaluations=args.evaluations,
        eval_per_class=args.eval_per_class,
        trials=args.trials,
        space=tuner.search_space(args.space, fixed, defaults=not args.no_default_space),
        fixed=fixed,
        storage=args.storage,
        name=args.name,
        pruner=args.pruner,
        startup_trials=args.startup_trials,
    )
    optuna = tuner.import_optuna()
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # cgan prints each trial; a failed one is one line
    study = tuner.run_tune(tune)
    best = tuner.best_trial(study)
    print(f"wrote {Path(tune.out) / tuner.REPORT_FILE}")
    if best is None:
        print("no trial has finished unpruned yet")
        return 0
    print(f"best: trial {best.number} (fd_evaluator {best.value:.3f}); train it with:")
    print(tuner.best_command(tune, best))
    return 0
