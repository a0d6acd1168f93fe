"""Subcommands ``backtest``, ``tune`` and ``experiments`` of rnn-forecast.

``backtest`` and ``tune`` start from a training spec: ``--spec FILE``, the
spec of a stored version (``--model NAME[:VERSION]``) or the defaults, with
any spec flag given on the command line on top.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from models.cli import (
    PATIENCE_OFF,
    check_submitted_data,
    off_flag,
    set_fields,
)
from models.cli_data import (
    SPEC_DATA_HELP,
    add_source_options,
    data_spec,
    source_option_names,
    with_source_options,
)
from models.cli_inputs import (
    input_path,
    output_path,
    read_json_file,
    split_version_ref,
)
from models.cli_integers import integer
from models.cli_outputs import check_output_folder, check_registry
from models.interrupts import HeldInterrupt, interrupted_after_write, stop_status
from models.limits import limit_from_env
from models.option_errors import located, validate_options
from models.paths import default_cache_dir
from models.plurals import plural
from models.registry import Registry
from models.spec import TrainingSpec

if TYPE_CHECKING:
    from models.tuning import TuningSpec

DEFAULT_EXPERIMENTS_DIR = Path("docs/experiments")
REFIT_OFF = "to fit once at the first origin"
TUNING_STORAGE_VARIABLE = "RNN_FORECAST_TUNING_STORAGE"

# Spec flags that backtest and tune accept: (flag, spec field, type, help).
SPEC_FLAGS: tuple[tuple[str, str, Callable[[str], Any], str], ...] = (
    ("--name", "name", str, "model name"),
    ("--cell", "cell", str, "rnn, lstm or gru"),
    ("--epochs", "epochs", integer, "maximum training epochs"),
    ("--hidden-size", "hidden_size", integer, "hidden units per layer"),
    ("--num-layers", "num_layers", integer, "stacked recurrent layers"),
    ("--lookback", "lookback", integer, "input steps T"),
    ("--horizon", "horizon", integer, "forecast steps K"),
    ("--target", "target", str, "log_return or price"),
    ("--learning-rate", "learning_rate", float, "Adam learning rate"),
    ("--batch-size", "batch_size", integer, "windows per batch"),
    ("--patience", "patience", integer, "early-stopping patience in epochs; 0 is off"),
    ("--seed", "seed", integer, "random seed of the fits"),
)

# fields of the backtest and tuning specs that only an option sets, so that
# an error names the option that the user typed
BACKTEST_OPTIONS = {
    "start": "--start",
    "end": "--end",
    "step": "--step",
    "window": "--window",
    "window_size": "--window-size",
    "refit_every": "--refit-every",
    "levels": "--level",
}
TUNE_OPTIONS = {
    "trials": "--trials",
    "timeout_seconds": "--timeout",
    "study_name": "--study-name",
    "storage": "--storage",
    "heartbeat_seconds": "--heartbeat-seconds",
    "sampler_seed": "--sampler-seed",
    "startup_trials": "--startup-trials",
    "pruning_warmup_epochs": "--pruning-warmup",
}


def register(commands: Any) -> None:
    """Add the three subcommands to the ``rnn-forecast`` parser."""
    _add_backtest(commands)
    _add_tune(commands)
    _add_experiments(commands)


def _add_spec_options(command: argparse.ArgumentParser) -> None:
    source = command.add_mutually_exclusive_group()
    source.add_argument("--spec", type=input_path, help="JSON training spec file")
    source.add_argument(
        "--model", help="use the spec of a stored version, NAME or NAME:VERSION"
    )
    for flag, field, kind, text in SPEC_FLAGS:
        command.add_argument(
            flag,
            dest=f"spec_{field}",
            metavar=field.upper(),
            type=kind,
            default=None,
            help=f"{text} (overrides the spec)",
        )
    command.add_argument("--data", default=None, help=SPEC_DATA_HELP)
    add_source_options(command)


def base_spec(args: argparse.Namespace, registry: Registry) -> TrainingSpec:
    """Build the training spec from ``--spec`` or ``--model`` with flags on
    top, and check synthetic data that a file or ``--data`` sets."""
    fields: dict[str, Any] = {}
    if args.spec is not None:
        fields = read_json_file("--spec", args.spec, dict, "spec fields")
    elif args.model is not None:
        name, ref = split_version_ref("--model", args.model)
        version = registry.resolve(name, ref)
        fields = registry.metadata(name, version)["spec"]

    options = spec_options(args)
    for field, flag in options.items():
        value = getattr(args, f"spec_{field}")
        if field == "patience":
            value = off_flag(flag, value, PATIENCE_OFF)
        fields[field] = value
    # backtest's --start and --end are origin dates, not download dates
    data_args = argparse.Namespace(
        data=args.data,
        column=args.column,
        start=None,
        end=None,
        length=args.length,
        seed=fields.get("seed", 0),
    )
    if args.data is not None:
        seed_name = options.get("seed", "seed")
        fields["data"] = set_fields(data_spec(data_args, seed_name=seed_name))
    else:
        fields = with_source_options(fields, data_args, spec_origin(args))
        options.update(source_option_names(fields, data_args))
    spec = validate_options(TrainingSpec, fields, options)
    # a stored version's spec carries every field with its default, so only
    # data from a file or a flag is checked
    if args.spec is not None or args.data is not None:
        check_submitted_data(spec)
    return spec


def spec_options(args: argparse.Namespace) -> dict[str, str]:
    """Return the spec flags given on the command line, by spec field."""
    return {
        field: flag
        for flag, field, _, _ in SPEC_FLAGS
        if getattr(args, f"spec_{field}") is not None
    }


def spec_origin(args: argparse.Namespace) -> str:
    """Name the spec that ``base_spec`` starts from, for messages."""
    if args.spec is not None:
        return f"the spec file {args.spec}"
    if args.model is not None:
        return f"the spec of model {args.model}"
    return "the default spec"


def _add_backtest(commands: Any) -> None:
    backtest = commands.add_parser(
        "backtest",
        help="walk-forward backtest of a training spec against the baselines",
    )
    backtest.set_defaults(handler=cmd_backtest, field_options=BACKTEST_OPTIONS)
    _add_spec_options(backtest)
    backtest.add_argument(
        "--start",
        default=None,
        help="first origin date YYYY-MM-DD (default: test part)",
    )
    backtest.add_argument("--end", default=None, help="last origin date YYYY-MM-DD")
    backtest.add_argument(
        "--step", type=integer, default=1, help="rows between origins"
    )
    backtest.add_argument(
        "--window", choices=["expanding", "sliding"], default="expanding"
    )
    backtest.add_argument(
        "--window-size", type=integer, default=None, help="training rows when sliding"
    )
    backtest.add_argument(
        "--refit-every",
        type=integer,
        default=0,
        help="origins between refits; 0 fits once at the first origin",
    )
    backtest.add_argument(
        "--level",
        type=float,
        action="append",
        default=None,
        help="interval level whose coverage is reported (repeatable; "
        "default 0.8, 0.9, 0.95)",
    )
    backtest.add_argument(
        "--output", type=output_path, help="write the full result as JSON"
    )


def cmd_backtest(args: argparse.Namespace, registry: Registry) -> int:
    from models.backtest import BacktestSpec, run_backtest
    from models.json_values import json_safe

    fields: dict[str, Any] = {
        "training": base_spec(args, registry),
        "start": args.start,
        "end": args.end,
        "step": args.step,
        "window": args.window,
        "window_size": args.window_size,
        "refit_every": off_flag("--refit-every", args.refit_every, REFIT_OFF),
    }
    if args.level:
        fields["levels"] = args.level
    # the errors of the run name the spec flags too, such as --lookback
    options = {**spec_options(args), **BACKTEST_OPTIONS}
    params = validate_options(BacktestSpec, fields, options)

    def report(progress: dict[str, Any]) -> None:
        print(
            f"fold {progress['fold']}/{progress['folds']} done, "
            f"{progress['origins_done']}/{progress['origins']} origins",
            flush=True,
        )

    result = run_backtest(
        params,
        report,
        cache_dir=default_cache_dir(),
        max_fits=limit_from_env("max_backtest_fits"),
    )
    result = json_safe(result)
    print_backtest(result)
    if args.output is not None:
        args.output.write_text(json.dumps(result, indent=2))
        print(f"wrote {args.output}")
    return 0


def print_scores(block: dict[str, Any]) -> None:
    """Print the model's and every baseline's scores as a table."""
    print(
        f"{'':16}{'RMSE':>11}{'MAE':>11}{'MAPE %':>9}{'sMAPE %':>9}"
        f"{'MASE':>10}  direction k=1 [95% CI]"
    )
    rows = {"model": block["model"], **block["baselines"]}
    for label, scores in rows.items():
        direction = scores.get("direction")
        direction_text = "-"
        if direction:
            direction_text = (
                f"{direction['accuracy']:.3f} "
                f"[{direction['low']:.3f}, {direction['high']:.3f}]"
            )
        print(
            f"{label:16}{fixed(scores['rmse'], 11, 4)}{fixed(scores['mae'], 11, 4)}"
            f"{fixed(scores['mape'], 9, 3)}{fixed(scores['smape'], 9, 3)}"
            f"{fixed(scores['mase'], 10, 4)}  {direction_text}"
        )
    print(
        f"skill vs naive: RMSE {_signed(block['skill_rmse'])}, "
        f"MAE {_signed(block['skill_mae'])}; best baseline {block['best_baseline']}"
    )


def fixed(value: float | None, width: int, digits: int) -> str:
    """Format ``value`` right-aligned with ``digits`` decimals, or ``-`` for
    None (a score stored as null)."""
    return f"{'-':>{width}}" if value is None else f"{value:>{width}.{digits}f}"


def _signed(value: float | None) -> str:
    return "-" if value is None else f"{value:+.4f}"


def print_backtest(result: dict[str, Any]) -> None:
    """User-facing summary of a backtest: folds, then the pooled scores."""
    origins = result["origins"]
    print(
        f"{plural(origins['count'], 'origin')} {origins['first']}.."
        f"{origins['last']} in {plural(len(result['folds']), 'fold')}, "
        f"{result['seconds']:.1f} s"
    )
    for fold in result["folds"]:
        scores = fold["scores"]
        print(
            f"fold {fold['fold']}: trained on {fold['train_rows']} rows to "
            f"{fold['train_end']}, {plural(fold['origins'], 'origin')}, RMSE "
            f"{scores['model']['rmse']:.4f} (naive {scores['naive']['rmse']:.4f}), "
            f"skill {_signed(scores['skill_rmse'])}"
        )
    print("aggregate over all origins:")
    print_scores(result["aggregate"])
    print_intervals(result["aggregate"]["intervals"])


def print_uncalibrated(
    intervals: dict[str, dict[str, Any]], calibrated: tuple[float, ...]
) -> None:
    """Print each reported level (0.8, 0.9, 0.95) that a fit's test
    ``intervals`` lists as not served because the validation windows, which
    calibrate only the levels in ``calibrated``, are too few for it."""
    from models.intervals import REPORT_LEVELS

    reach = f"levels up to {max(calibrated)}" if calibrated else "no level"
    for level in REPORT_LEVELS:
        row = intervals.get(str(level))
        if row is None or not row["served"]:
            print(
                f"interval {level}: not calibrated, because the validation "
                f"windows support {reach}; raise val_fraction or use a longer "
                "series"
            )


def print_intervals(intervals: dict[str, dict[str, Any]]) -> None:
    """Print the coverage and mean width reached at each interval level; a
    backtest level without coverage was not served by every fold."""
    for level, row in intervals.items():
        if row.get("coverage") is None:
            print(f"interval {level}: not served by every fold")
            continue
        print(
            f"interval {level}: coverage {row['coverage']:.3f}, "
            f"mean width {row['mean_width']:.4f}"
        )


def _add_tune(commands: Any) -> None:
    tune = commands.add_parser(
        "tune", help="search hyperparameters with Optuna and register the best"
    )
    tune.set_defaults(handler=cmd_tune, field_options=TUNE_OPTIONS)
    _add_spec_options(tune)

    tune.add_argument("--trials", type=integer, default=20, help="trials to run")
    tune.add_argument(
        "--timeout", type=float, default=None, help="stop starting trials after S s"
    )
    tune.add_argument(
        "--study-name",
        default=None,
        help="study to create, or to resume with more trials when it exists "
        "in the storage; resuming needs the study's search space and base spec "
        "(default: NAME-tuning)",
    )
    tune.add_argument(
        "--storage",
        default=None,
        help="SQLAlchemy URL of the study (default: $RNN_FORECAST_TUNING_STORAGE, "
        "else the sqlite file optuna.db in $RNN_FORECAST_DATA_DIR or ./var)",
    )
    tune.add_argument(
        "--heartbeat-seconds",
        type=integer,
        default=None,
        help="seconds between the heartbeats of a running trial; a trial without "
        "one for twice as long, such as one of a killed process on any host, is "
        "failed before the next trial starts (default: "
        "$RNN_FORECAST_TUNING_HEARTBEAT_SECONDS, else 30; 0 = off)",
    )

    tune.add_argument("--sampler-seed", type=integer, default=0)
    tune.add_argument(
        "--startup-trials", type=integer, default=5, help="random trials before TPE"
    )
    tune.add_argument(
        "--pruning-warmup",
        type=integer,
        default=2,
        help="epochs every trial completes before it can be pruned",
    )
    tune.add_argument(
        "--space", type=input_path, default=None, help="JSON search space file"
    )

    tune.add_argument(
        "--no-register", action="store_true", help="do not register the best trial"
    )
    tune.add_argument(
        "--output", type=output_path, help="write the study summary as JSON"
    )


def cmd_tune(args: argparse.Namespace, registry: Registry) -> int:
    from models.tuning import TuningSpec, run_tuning
    from models.tuning_budget import check_startup_trials

    fields: dict[str, Any] = {
        "base": base_spec(args, registry),
        "trials": args.trials,
        "timeout_seconds": args.timeout,
        "study_name": args.study_name,
        "storage": args.storage,
        "heartbeat_seconds": args.heartbeat_seconds,
        "sampler_seed": args.sampler_seed,
        "startup_trials": args.startup_trials,
        "pruning_warmup_epochs": args.pruning_warmup,
        "register_version": not args.no_register,
    }
    if args.space is not None:
        fields["space"] = space_file(args.space)
    # the base spec's epochs come from --epochs, else from the spec file or
    # the stored version, where the field is epochs
    epochs_name = "--epochs" if args.spec_epochs is not None else "epochs"
    # --name sets the base spec's name, which names the version too
    source_name = "--data" if args.data is not None else "data.source"
    options = {
        **TUNE_OPTIONS,
        "base.epochs": epochs_name,
        "name": "--name",
        "base.data.source": source_name,
    }
    params = validate_options(TuningSpec, fields, options)
    check_storage_option(args.storage)
    with study_database_errors(params):
        check_startup_trials(params, params.resolved_study_name(), params.storage)
    if params.register_version:
        check_registry(registry.root)
    # a Ctrl-C or SIGTERM from the registry write on is held until the write
    # ends
    held_interrupt = HeldInterrupt()
    try:
        with study_database_errors(params):
            summary = run_tuning(
                params,
                registry=registry,
                cache_dir=default_cache_dir(),
                before_write=held_interrupt.hold,
            )
    finally:
        held_interrupt.release()

    try:
        received = held_interrupt.release()
        if received is not None:
            raise received
        print_tuning_summary(args, params, summary, registry)
    except KeyboardInterrupt as stop:
        if "version" not in summary:
            raise
        name = params.name or params.base.name
        message = interrupted_after_write(stop, name, summary["version"], registry.root)
        print(message, file=sys.stderr)
        return stop_status(stop)
    return 0


def print_tuning_summary(
    args: argparse.Namespace, params: Any, summary: dict[str, Any], registry: Registry
) -> None:
    """Print the study's trial counts, the best trial and the version that
    ``tune`` wrote, and write the summary to ``--output``."""
    from models.sql_urls import redact_storage
    from models.tuning import default_storage

    # the summary shows a SQLite file relative to the data folder, as HTTP
    # clients see it; the command line prints the whole path
    storage = redact_storage(params.storage or default_storage())
    for note in summary["notes"]:
        print(f"note: {note}", file=sys.stderr)
    counts = summary["counts"]
    print(
        f"study {summary['study_name']} in {storage}: "
        f"{counts['total']} trials, {counts['complete']} complete, "
        f"{counts['pruned']} pruned, {counts['failed']} failed"
    )
    if "best" in summary:
        best = summary["best"]
        print(f"best trial {best['number']}: validation MSE {best['value']:.6g}")
        for key, value in sorted(best["params"].items()):
            print(f"  {key} = {value}")
    if "version" in summary:
        name = params.name or params.base.name
        meta = registry.metadata(name, summary["version"])
        print_scores(meta["metrics"]["test"])
        print(f"wrote {name} version {summary['version']} to {registry.root}")
    if args.output is not None:
        args.output.write_text(json.dumps(summary, indent=2))
        print(f"wrote {args.output}")


def space_file(path: Path) -> Any:
    """Read and validate the search space file of ``--space``; raise
    ``ValueError`` naming the file and each invalid field."""
    from pydantic import ValidationError

    from models.tuning import SearchSpace

    content = read_json_file("--space", path, dict, "search space fields")
    try:
        return SearchSpace.model_validate(content)
    except ValidationError as exc:
        problems = [
            f"--space {path}: {located(err, {}, SearchSpace)}" for err in exc.errors()
        ]
        raise ValueError("; ".join(problems)) from None


@contextmanager
def study_database_errors(params: TuningSpec) -> Iterator[None]:
    """Raise the database errors of the block as ``InvalidInputError`` that
    names ``--storage`` or ``RNN_FORECAST_TUNING_STORAGE``, whichever chose
    the study database, with the reason and the fix. The option names the
    default file too. Every SQL database that ``tune`` uses is the study
    database."""
    from sqlalchemy.exc import SQLAlchemyError

    from models.storage_errors import storage_open_error
    from models.tuning import default_storage

    try:
        yield
    except SQLAlchemyError as exc:
        configured = os.environ.get(TUNING_STORAGE_VARIABLE, "").strip()
        name = TUNING_STORAGE_VARIABLE
        if params.storage is not None or not configured:
            name = "--storage"
        url = params.storage or default_storage(create_folder=False)
        raise storage_open_error(name, url, exc) from exc


def check_storage_option(url: str | None) -> None:
    """Check the study database that ``--storage`` or, without it,
    ``RNN_FORECAST_TUNING_STORAGE`` names, so that an error names the one
    that set it."""
    from models.sql_urls import check_storage

    if url is not None:
        check_storage(url, name="--storage")
        return
    configured = os.environ.get(TUNING_STORAGE_VARIABLE, "").strip()
    if configured:
        check_storage(configured, name=TUNING_STORAGE_VARIABLE)


def _add_experiments(commands: Any) -> None:
    experiments = commands.add_parser(
        "experiments",
        help="run the synthetic and NFLX experiments and write their reports",
    )
    experiments.set_defaults(handler=cmd_experiments)
    experiments.add_argument(
        "suite", choices=["synthetic", "nflx", "all"], help="which experiments to run"
    )
    experiments.add_argument(
        "--out",
        type=output_path,
        default=None,
        help="folder for the Markdown reports and PNGs (default docs/experiments; "
        "required with --quick)",
    )
    experiments.add_argument(
        "--quick",
        action="store_true",
        help="tiny models and short series, to check the command, not the models",
    )


def cmd_experiments(args: argparse.Namespace, registry: Registry) -> int:
    import torch

    from models.experiments import FULL, QUICK, SUITES

    # one intra-op thread: small recurrent models gain nothing from more, and
    # on a shared machine extra threads spin and slow every fit several-fold
    torch.set_num_threads(1)
    out = experiments_folder(args.out, args.quick)
    sizes = QUICK if args.quick else FULL
    suites = list(SUITES) if args.suite == "all" else [args.suite]
    for suite in suites:
        command = f"rnn-forecast experiments {suite}"
        if args.quick:
            command += " --quick"
        if args.out is not None:
            command += f" --out {args.out}"
        started = time.perf_counter()
        path = SUITES[suite](out, sizes, command)
        print(f"wrote {path} in {time.perf_counter() - started:.0f} s")
    return 0


def experiments_folder(out: Path | None, quick: bool) -> Path:
    """Return the report folder: ``out``, else ``DEFAULT_EXPERIMENTS_DIR``.

    Raises ``ValueError`` for ``--quick`` without ``--out``, because the
    reports of its tiny models would replace the committed ones.
    """
    if out is not None:
        return out
    if quick:
        raise ValueError(
            f"--quick needs --out: its tiny models would replace the reports in "
            f"{DEFAULT_EXPERIMENTS_DIR}; give another folder, such as --out "
            "var/experiments"
        )
    folder = DEFAULT_EXPERIMENTS_DIR
    check_output_folder(f"--out {folder}", folder if folder.exists() else folder.parent)
    return folder
