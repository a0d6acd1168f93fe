"""The ``rnn-forecast`` command line: train, serve and inspect models.

This module imports no FastAPI at import time; ``serve`` imports the service,
builds its app and runs it on uvicorn.
"""

from __future__ import annotations

if __name__ == "__main__":
    # ``python -m models.cli`` hands over to the console script's entry
    # point before the imports below, so a Ctrl-C, SIGTERM or SIGHUP while
    # they run ends it with one line, not a traceback. The entry point
    # imports this file again as ``models.cli``.
    import sys

    from models.entry_point import main as entry_point_main

    sys.exit(entry_point_main())

import argparse
import contextlib
import errno
import gc
import importlib
import json
import logging
import os
import signal
import socket
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from models.cli_data import (
    TRAIN_DATA_HELP,
    add_source_options,
    data_spec,
    source_option_names,
    with_source_options,
)
from models.cli_inputs import input_path, read_json_file, split_version_ref
from models.cli_integers import integer
from models.cli_outputs import (
    check_output_folder,
    check_registry,
    check_registry_folder,
)
from models.errors import CheckpointError, RnnForecastError
from models.exit_status import (
    SIGHUP_STATUS,
    SIGINT_STATUS,
    SIGPIPE_STATUS,
    SIGTERM_STATUS,
)
from models.generator_fields import check_generator_fields
from models.interrupts import (
    HeldInterrupt,
    install_stop_handlers,
    interrupt_for,
    interrupted_after_write,
    raise_sighup_interrupt,
    raise_sigterm_interrupt,
    stop_status,
    stop_word,
)
from models.nn import infer_kernel_build
from models.option_errors import (
    CLIP_OFF,
    PATIENCE_OFF,
    error_text,
    located,
    validate_options,
)
from models.paths import default_cache_dir, default_registry
from models.spec import (
    DEFAULT_NAME,
    SyntheticData,
    TrainingSpec,
    check_model_name,
)

if TYPE_CHECKING:
    from models.registry import Registry

logger = logging.getLogger(__name__)

# Modules that add subcommands: each has ``register(commands)``, which adds
# parsers whose ``handler(args, registry) -> int`` runs the command.
COMMAND_MODULES: list[str] = [
    "models.cli_evaluation",
    "models.cli_forecast",
    "models.cli_gradients",
]


class CommandParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` that reads no abbreviated long options, so that
    ``--start`` is an error where only ``--startup-trials`` exists.

    ``add_subparsers`` builds subcommand parsers of the parser's own class,
    so every subcommand inherits this.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    parser = CommandParser(
        prog="rnn-forecast",
        description="Train RNN, LSTM and GRU forecasters and serve them over HTTP.",
    )
    parser.add_argument(
        "--registry",
        type=registry_folder,
        default=None,
        help="checkpoint folder (default: $RNN_FORECAST_REGISTRY or ./registry)",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    _add_train(commands)
    _add_serve(commands)
    _add_models(commands)
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(commands)
    return parser


def _add_models(commands: Any) -> None:
    models_cmd = commands.add_parser("models", help="list and inspect stored models")
    models_cmd.set_defaults(handler=cmd_models)
    models_sub = models_cmd.add_subparsers(dest="models_command", required=True)
    models_sub.add_parser(
        "list",
        help="list model names, versions and aliases; exit 1 when a model's "
        "files cannot be read",
    )
    show = models_sub.add_parser("show", help="show one version's metadata")
    show.add_argument("ref", help="NAME or NAME:VERSION (a number or an alias)")
    show.add_argument("--json", action="store_true", help="print the raw metadata")


def _add_train(commands: Any) -> None:
    defaults = TrainingSpec()
    train = commands.add_parser(
        "train", help="train a forecaster and write a new version"
    )
    train.set_defaults(handler=cmd_train)
    train.add_argument(
        "--name",
        default=None,
        help=f"model name (default {DEFAULT_NAME} with --data bundled; "
        "required with any other data)",
    )
    train.add_argument("--cell", choices=["rnn", "lstm", "gru"], default=defaults.cell)
    train.add_argument("--epochs", type=integer, default=defaults.epochs)
    train.add_argument("--hidden-size", type=integer, default=defaults.hidden_size)
    train.add_argument("--num-layers", type=integer, default=defaults.num_layers)
    train.add_argument(
        "--dropout",
        type=float,
        default=defaults.dropout,
        help="dropout between stacked layers (needs --num-layers >= 2)",
    )
    train.add_argument(
        "--lookback", type=integer, default=defaults.lookback, help="input steps T"
    )
    train.add_argument(
        "--horizon", type=integer, default=defaults.horizon, help="forecast steps K"
    )
    train.add_argument(
        "--target", choices=["log_return", "price"], default=defaults.target
    )
    train.add_argument(
        "--scaler", choices=["standard", "minmax"], default=defaults.scaler
    )
    train.add_argument("--learning-rate", type=float, default=defaults.learning_rate)
    train.add_argument("--batch-size", type=integer, default=defaults.batch_size)
    train.add_argument(
        "--clip-norm",
        type=float,
        default=defaults.clip_norm,
        help="max global gradient L2 norm; 0 turns clipping off",
    )
    train.add_argument(
        "--patience",
        type=integer,
        default=defaults.patience,
        help="epochs without validation improvement before stopping; 0 is off",
    )
    train.add_argument("--seed", type=integer, default=defaults.seed)
    train.add_argument("--data", default="bundled", help=TRAIN_DATA_HELP)
    add_source_options(train)
    train.add_argument(
        "--start", default=None, help="first date of a yfinance download YYYY-MM-DD"
    )
    train.add_argument(
        "--end",
        default=None,
        help="end date of a yfinance download, excluded, YYYY-MM-DD",
    )
    train.add_argument(
        "--spec",
        type=input_path,
        default=None,
        help="JSON training spec; flags override",
    )
    train.add_argument(
        "--alias", action="append", default=[], help="alias to point at the version"
    )
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.add_argument(
        "--serve", action="store_true", help="start the API after training"
    )
    _add_server_options(train)


def _add_serve(commands: Any) -> None:
    serve = commands.add_parser("serve", help="serve the HTTP API")
    serve.set_defaults(handler=cmd_serve)
    _add_server_options(serve)


def _add_server_options(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--host",
        type=host_address,
        default=None,
        help="bind address (default: $RNN_FORECAST_HOST or 127.0.0.1)",
    )
    command.add_argument(
        "--port",
        type=port_number,
        default=None,
        help="TCP port, 1 to 65535 (default: $RNN_FORECAST_PORT or 8000)",
    )


def registry_folder(text: str) -> Path:
    """Parse ``--registry`` and reject an empty folder, which ``Path`` reads
    as the current folder."""
    if not text.strip():
        raise argparse.ArgumentTypeError(
            f"the folder {text!r} is empty; give a folder such as ./registry, or "
            "leave --registry out for $RNN_FORECAST_REGISTRY or ./registry"
        )
    return Path(text)


def chosen_host(args: argparse.Namespace) -> str:
    """Return ``--host``, else ``RNN_FORECAST_HOST``, else 127.0.0.1 when the
    variable is unset, empty or only spaces. Raises ``ValueError`` naming
    the variable when its value is no valid bind address."""
    if args.host is not None:
        return str(args.host)
    text = os.environ.get("RNN_FORECAST_HOST", "").strip() or "127.0.0.1"
    try:
        return host_address(text)
    except argparse.ArgumentTypeError as exc:
        raise ValueError(f"RNN_FORECAST_HOST: {exc}") from None


def host_address(text: str) -> str:
    """Parse a bind address and reject an empty one, because ``bind`` reads
    an empty host as every interface. Every interface is written 0.0.0.0.
    An IPv6 address in brackets, such as ``[::1]``, is rejected too."""
    if not text.strip():
        raise argparse.ArgumentTypeError(
            f"the host {text!r} is empty, which would listen on every interface; "
            "give an address such as 127.0.0.1, or 0.0.0.0 to listen on every "
            "interface"
        )
    if text.startswith("[") and text.endswith("]"):
        # bind reads "[::1]" as a host name, which does not resolve
        raise argparse.ArgumentTypeError(
            f"the host {text!r} is in brackets, as URLs write an IPv6 address; "
            f"give the address without them, such as {text[1:-1] or '::1'}"
        )
    return text


def port_number(text: str) -> int:
    """Parse a TCP port: an integer from 1 to 65535, written with the
    digits 0-9 (``integer``)."""
    try:
        port = integer(text)
    except argparse.ArgumentTypeError as exc:
        raise argparse.ArgumentTypeError(
            f"port {exc}; use a port from 1 to 65535"
        ) from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(
            f"port {port} is out of range; use a port from 1 to 65535"
        )
    return port


def chosen_port(args: argparse.Namespace) -> int:
    """Return ``--port``, else ``RNN_FORECAST_PORT``, else 8000."""
    if args.port is not None:
        return int(args.port)
    text = os.environ.get("RNN_FORECAST_PORT", "8000")
    try:
        return port_number(text)
    except argparse.ArgumentTypeError as exc:
        raise ValueError(f"RNN_FORECAST_PORT: {exc}") from None


def training_spec(args: argparse.Namespace) -> TrainingSpec:
    """Merge a ``--spec`` file (if any) with the flags given explicitly."""
    base: dict[str, Any] = {}
    if args.spec is not None:
        base = read_json_file("--spec", args.spec, dict, "spec fields")

    flags = {
        "cell": args.cell,
        "epochs": args.epochs,
        "hidden_size": args.hidden_size,
        "num_layers": args.num_layers,
        "dropout": args.dropout,
        "lookback": args.lookback,
        "horizon": args.horizon,
        "target": args.target,
        "scaler": args.scaler,
        "learning_rate": args.learning_rate,
        "batch_size": args.batch_size,
        "clip_norm": off_flag("--clip-norm", args.clip_norm, CLIP_OFF),
        "patience": off_flag("--patience", args.patience, PATIENCE_OFF),
        "seed": args.seed,
    }
    if args.name is not None:
        flags["name"] = args.name
    given = _explicit_flags(args)
    options: dict[str, str] = {}
    for key, value in flags.items():
        if args.spec is None or key in given:
            base[key] = value
            options[key] = "--" + key.replace("_", "-")
    data_option = args.spec is None or "data" in given
    if data_option:
        base["data"] = set_fields(data_spec(args))
    else:
        base = with_source_options(base, args, f"the spec file {args.spec}")
        options.update(source_option_names(base, args))
    spec = validate_options(TrainingSpec, base, options)
    check_submitted_data(spec)
    source_input = "--data" if data_option else "data.source"
    check_model_name(spec, name_input="--name", source_input=source_input)
    return spec


def set_fields(model: BaseModel) -> dict[str, Any]:
    """Dump the fields of ``model`` that its input set, and its ``source``,
    so that a spec built from the dump has the same ``model_fields_set``."""
    return model.model_dump(include={*model.model_fields_set, "source"})


def check_submitted_data(spec: TrainingSpec) -> None:
    """Reject a synthetic data spec whose input set a field that its
    generator does not use."""
    if isinstance(spec.data, SyntheticData):
        check_generator_fields(spec.data)


def off_flag(option: str, value: float | None, off: str) -> float | None:
    """Return the spec value of ``option``, an option whose 0 turns a feature
    off. That is None for 0 and ``value`` otherwise, and the spec checks
    positive values and NaN.

    Raises ``ValueError`` naming ``option`` and what 0 does (``off``) for a
    negative value.
    """
    if value is None or not value <= 0:
        return value
    if value == 0:
        return None
    raise ValueError(f"{option} {value:g} is below 0; use a positive value, or 0 {off}")


def _explicit_flags(args: argparse.Namespace) -> set[str]:
    argv = sys.argv[1:] if args.argv is None else args.argv
    return {
        arg[2:].split("=")[0].replace("-", "_") for arg in argv if arg.startswith("--")
    }


def cmd_train(args: argparse.Namespace, registry: Registry) -> int:
    from models.pipeline import train_and_register
    from models.progress import ProgressBar
    from models.registry import check_settable_alias

    spec = training_spec(args)
    # an alias that cannot be set fails before training, not after writing
    for alias in args.alias:
        check_settable_alias(alias)
    if args.alias:
        registry.check_alias_file(spec.name)
    check_registry(registry.root)
    # a busy port fails before training, so no version is written for a
    # server that cannot start
    listener = listen(chosen_host(args), chosen_port(args)) if args.serve else None
    bar = ProgressBar(enabled=not args.quiet)
    # a Ctrl-C or SIGTERM from the registry write on is held until the
    # aliases are set
    held_interrupt = HeldInterrupt()
    try:
        version, result, series = train_and_register(
            spec,
            registry,
            cache_dir=default_cache_dir(),
            on_epoch=bar.update,
            before_write=held_interrupt.hold,
        )
        for alias in args.alias:
            registry.set_alias(spec.name, alias, version)
    except BaseException:
        if listener is not None:
            listener.close()
        raise
    finally:
        bar.close()
        held_interrupt.release()

    try:
        received = held_interrupt.release()
        if received is not None:
            raise received
        print_training_report(spec, version, result, series, registry)
    except KeyboardInterrupt as stop:
        if listener is not None:
            listener.close()
        message = interrupted_after_write(
            stop, spec.name, version, registry.root, args.alias
        )
        print(message, file=sys.stderr)
        return stop_status(stop)
    if listener is not None:
        return cmd_serve(args, registry, listener)
    return 0


def print_training_report(
    spec: Any, version: int, result: Any, series: Any, registry: Registry
) -> None:
    """User-facing summary: data, cleaning, stopping and test metrics."""
    print(
        f"data: {series.source.get('source')} {series.start}..{series.end}, "
        f"{len(series.frame)} rows, sha256 {series.sha256[:12]}"
    )
    for step in series.cleaning:
        print(f"cleaning: {step}")
    print(
        f"epochs run: {len(result.history)} (best {result.best_epoch}"
        f"{', stopped early' if result.stopped_early else ''}), "
        f"{result.seconds:.1f} s"
    )
    metrics = result.metrics
    print(
        f"test part: {result.split['test']['start']}..{result.split['test']['end']}, "
        f"{metrics['windows']} windows x {metrics['horizon']} steps"
    )
    from models.cli_evaluation import (
        print_intervals,
        print_scores,
        print_uncalibrated,
    )

    print_scores(metrics)
    intervals = metrics.get("intervals", {})
    print_intervals({key: row for key, row in intervals.items() if row["served"]})
    calibrated = result.intervals.levels if result.intervals is not None else ()
    print_uncalibrated(intervals, calibrated)
    print(f"wrote {spec.name} version {version} to {registry.root}")


def cmd_serve(
    args: argparse.Namespace,
    registry: Registry,
    listener: socket.socket | None = None,
) -> int:
    """Serve the registry on the chosen host and port, or on ``listener``
    when the caller has bound it already."""
    import uvicorn

    with collector_paused():
        from models.nn import infer_kernel
        from service.app import create_app
        from service.request_heads import head_deadline_protocol
        from service.server import StoppingServer, Terminated, stop_signals_raise
    # Python warnings then reach the log handlers, so every line is JSON
    logging.captureWarnings(True)
    # the server keeps these objects, so later collections skip them
    gc.freeze()
    from service.logging_config import log_config

    os.environ["RNN_FORECAST_REGISTRY"] = str(registry.root)
    settings = load_settings()
    check_service_settings(settings)
    host = chosen_host(args)
    port = chosen_port(args)
    # The port is bound before the app starts, so a second server on a busy
    # port exits before its job runner could claim a queued job.
    if listener is None:
        listener = listen(host, port)
    with listener:
        app = create_app(settings)
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            root_path=settings.root_path,
            log_config=log_config(settings.log_format, settings.log_level),
            access_log=False,
            http=head_deadline_protocol(
                settings.head_timeout_seconds,
                max_head_bytes=settings.max_head_bytes,
                body_timeout_seconds=settings.body_timeout_seconds,
                max_discarded_bytes=settings.max_request_bytes,
            ),
        )
        # after the server's log configuration, so that the log lines of a
        # schema upgrade are formatted like the server's
        check_job_store(settings)
        # a stalled request body or an upload parse would otherwise hold the
        # shutdown until it ends, because uvicorn waits for every request in
        # progress
        server = StoppingServer(
            config,
            on_stop=app.state.stop_requests,
            on_signal=app.state.startup_stop.request,
        )
        # uvicorn 0.55 (Server.capture_signals) raises the Ctrl-C or SIGTERM
        # that it handled again once its shutdown is complete, so a server
        # stopped that way after it served exits 0, and one stopped during
        # its start-up exits as the signal's status. A SIGHUP shuts the
        # server down as a SIGTERM does and always exits 129.
        try:
            with stop_signals_raise():
                # A signal here ends the wait for the compiler, while in the
                # app's start-up uvicorn would only record it and wait.
                infer_kernel.load()
                server.run(sockets=[listener])
        except KeyboardInterrupt:
            return 0 if server.ready else SIGINT_STATUS
        except Terminated as stop:
            if server.hangup or stop.signum == signal.SIGHUP:
                return SIGHUP_STATUS
            return 0 if server.ready else SIGTERM_STATUS
    return 0 if server.started else 3


def listen(host: str, port: int) -> socket.socket:
    """Bind a TCP socket to ``host:port``; raise ``OSError`` with the
    address and what to do when that fails."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
    except OSError as exc:
        listener.close()
        raise OSError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}; "
            f"{bind_fix(exc, host)}"
        ) from None
    listener.set_inheritable(True)
    return listener


def bind_fix(exc: OSError, host: str) -> str:
    """Return what to do after ``bind`` failed with ``exc``: choose another
    host when ``host`` is no address of this machine, else another port."""
    host_fix = (
        f"{host!r} is not an address of this machine; choose one with --host "
        "or RNN_FORECAST_HOST, such as 127.0.0.1 or 0.0.0.0"
    )
    if isinstance(exc, socket.gaierror) or exc.errno == errno.EADDRNOTAVAIL:
        return host_fix
    if exc.errno == errno.EACCES:
        return (
            "ports below 1024 need privileges; choose another port with --port "
            "or RNN_FORECAST_PORT"
        )
    return (
        "stop the process that uses it or choose another port with --port or "
        "RNN_FORECAST_PORT"
    )


def load_settings() -> Any:
    """Read the service settings; raise ``ValueError`` naming each invalid
    ``RNN_FORECAST_*`` variable."""
    from service.settings import Settings

    try:
        return Settings()
    except ValidationError as exc:
        problems = [_setting_error(err) for err in exc.errors()]
        raise ValueError("; ".join(problems)) from None


def _setting_error(err: Any) -> str:
    """Return one settings error, naming its ``RNN_FORECAST_*`` variable."""
    if err["type"] == "value_error":
        # the settings' own checks name the variable and its value
        return error_text(err)
    name = "RNN_FORECAST_" + "_".join(str(part) for part in err["loc"]).upper()
    return f"{name}={err.get('input')!r}: {error_text(err)}"


# a SQLite URL that suits each setting, for its messages
STORAGE_EXAMPLES = {
    "RNN_FORECAST_JOB_STORE": "sqlite:///var/jobs.db",
    "RNN_FORECAST_TUNING_STORAGE": "sqlite:///var/optuna.db",
}


def check_service_settings(settings: Any) -> None:
    """Raise ``ValueError`` when the data folder cannot be created, or a
    database URL names no database that SQLAlchemy supports or a driver
    that is not installed. The app would log these failures as a
    traceback."""
    from models.sql_urls import check_storage

    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(
            f"RNN_FORECAST_DATA_DIR={str(settings.data_dir)!r}: cannot create the "
            f"folder ({exc.strerror or exc}); choose a writable folder"
        ) from None

    urls = {
        "RNN_FORECAST_JOB_STORE": settings.job_store,
        "RNN_FORECAST_TUNING_STORAGE": settings.tuning_storage,
    }
    for name, url in urls.items():
        if url is None:
            continue
        try:
            check_storage(url, name=name, example=STORAGE_EXAMPLES[name])
        except RnnForecastError as exc:
            raise ValueError(str(exc)) from None


def check_job_store(settings: Any) -> None:
    """Open the job store once, as the app does at start, and raise
    ``ValueError`` naming ``RNN_FORECAST_JOB_STORE`` when that fails, such
    as for an unreachable database or an unknown schema revision."""
    from sqlalchemy.exc import SQLAlchemyError

    from models.sql_urls import redact_storage
    from service.jobs.store import open_store, sqlite_url

    url = settings.job_store or sqlite_url(settings.data_dir / "jobs.db")
    try:
        open_store(settings).close()
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise ValueError(
            f"RNN_FORECAST_JOB_STORE: cannot open the job store "
            f"{redact_storage(url)} ({reason}); start the database, or set "
            "RNN_FORECAST_JOB_STORE to a database that this host can reach"
        ) from None
    except RnnForecastError as exc:
        raise ValueError(str(exc)) from None


def list_models(registry: Registry) -> int:
    """Print each model's versions and aliases. Return 1 when a model's files
    cannot be read, else 0. The reason goes to stderr, and the other models
    are still listed."""
    from models.registry import LATEST

    names = registry.names()
    if not names:
        print(f"no models in {registry.root}")
    failed = 0
    for name in names:
        versions = registry.versions(name)
        try:
            aliases = registry.aliases(name)
        except CheckpointError:
            aliases = {LATEST: versions[-1]}
        alias_text = ", ".join(f"{a}->{v}" for a, v in sorted(aliases.items()))
        print(f"{name}: versions {versions}; aliases {alias_text}")
        reason = registry.unreadable(name)
        if reason is not None:
            failed += 1
            print(f"error: model {name}: {reason}", file=sys.stderr)
    return 1 if failed else 0


def cmd_models(args: argparse.Namespace, registry: Registry) -> int:
    if args.models_command == "list":
        return list_models(registry)

    from models.cli_evaluation import fixed
    from models.version_checks import check_scaler

    name, ref = split_version_ref("models show", args.ref)
    version = registry.resolve(name, ref)
    meta = registry.metadata(name, version)
    if args.json:
        print(json.dumps(meta, indent=2))
        return 0
    check_scaler(meta, f"{name}:{version}")
    spec, test = meta["spec"], meta["metrics"]["test"]
    print(f"{name}:{version} created {meta['created_at']}")
    print(
        f"cell {spec['cell']}, hidden {spec['hidden_size']}, layers "
        f"{spec['num_layers']}, lookback {spec['lookback']}, horizon "
        f"{spec['horizon']}, target {spec['target']}"
    )
    print(
        f"data {meta['data']['source']} {meta['data']['start']}.."
        f"{meta['data']['end']} sha256 {meta['data']['sha256'][:12]}"
    )
    model, naive = test["model"], test["naive"]
    print(
        f"test RMSE {fixed(model['rmse'], 0, 4)} (naive {fixed(naive['rmse'], 0, 4)}), "
        f"MASE {fixed(model['mase'], 0, 4)} (naive {fixed(naive['mase'], 0, 4)})"
    )
    return 0


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while heavy modules import.

    Importing torch and the app creates hundreds of thousands of objects
    that live as long as the process, so the collections that they trigger
    on the way find almost nothing to free.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


# commands that load the inference kernel, whose first build on a machine
# then runs while torch and the app import
KERNEL_COMMANDS = frozenset({"serve", "forecast"})

# the handlers that ``install_stop_handlers`` sets, by signal
STOP_HANDLERS = {
    signal.SIGTERM: raise_sigterm_interrupt,
    signal.SIGHUP: raise_sighup_interrupt,
}

# options that name a file or a folder that a command writes
OUTPUT_FILES = ("png", "output", "markdown", "json")
OUTPUT_FOLDERS = ("out",)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command that ``argv`` (default ``sys.argv[1:]``) names and
    return its exit status.

    The SIGTERM and SIGHUP handlers of the commands that compute are put
    back as they were on return, so a caller in the same process, such as a
    test, keeps its own."""
    previous = {signum: signal.getsignal(signum) for signum in STOP_HANDLERS}
    try:
        return run_command(argv)
    finally:
        for signum, handler in STOP_HANDLERS.items():
            replaced = signal.getsignal(signum) is handler
            if replaced and previous[signum] is not None:
                signal.signal(signum, previous[signum])


def run_command(argv: Sequence[str] | None) -> int:
    """Parse ``argv`` and run its command; return the exit status. A
    Ctrl-C, SIGTERM or SIGHUP ends a command with one line on stderr."""
    logging.basicConfig(
        level=logging.INFO, format="%(levelname)s %(name)s: %(message)s"
    )
    # torch sets its loggers to WARNING at the end of its import. An import
    # that a signal cuts short would leave them at INFO, and torch's exit
    # handlers would then log cache statistics after the error line.
    logging.getLogger("torch").setLevel(logging.WARNING)
    words = sys.argv[1:] if argv is None else argv
    if start_kernel_build(words):
        # The default actions of SIGTERM and SIGHUP end the process without
        # its exit handlers, which end the compiler and delete its partial
        # library.
        signal.signal(signal.SIGTERM, exit_by_signal)
        if signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:
            signal.signal(signal.SIGHUP, exit_by_signal)
    elif command_word(words) not in KERNEL_COMMANDS:
        # the commands that compute, such as train, then end with an error
        # line as after Ctrl-C, and a registry write in progress is removed
        install_stop_handlers()
    try:
        with collector_paused():
            # the command modules import torch
            parser = build_parser()
            from models.registry import Registry
    except KeyboardInterrupt as stop:
        # the exit handlers end a compiler that the kernel build started
        print(f"error: {stop_word(stop)}", file=sys.stderr)
        return stop_status(stop)

    args = parser.parse_args(argv)
    args.argv = list(argv) if argv is not None else None
    registry = Registry(args.registry or default_registry())

    try:
        check_registry_folder(registry.root)
        prepare_outputs(args)
        status = int(args.handler(args, registry))
        # a closed pipe shows up here rather than at exit, where Python
        # would print its own message
        sys.stdout.flush()
        return status
    except BrokenPipeError:
        return stdout_closed()
    except (RnnForecastError, ValueError, ValidationError, OSError) as exc:
        options = getattr(args, "field_options", {})
        print(f"error: {_message(exc, options)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as stop:
        # a registry version is written whole or not at all
        print(f"error: {stop_word(stop)}", file=sys.stderr)
        return stop_status(stop)


def start_kernel_build(argv: Sequence[str]) -> bool:
    """Start compiling the inference kernel in the background when the
    command loads it and it is switched on; return whether it started.

    On a machine's first run the compiler (about 0.6 s of CPU) runs while
    torch imports. When the library is already built, the thread only
    checks its file."""
    if command_word(argv) not in KERNEL_COMMANDS or not infer_kernel_build.enabled():
        return False
    infer_kernel_build.build_in_background()
    return True


def command_word(argv: Sequence[str]) -> str | None:
    """Return the command of a command line before it is parsed: its first
    word that is neither an option nor the folder after ``--registry``.
    Return None when there is none."""
    words = iter(argv)
    for word in words:
        if word == "--registry":
            next(words, None)
        elif not word.startswith("-"):
            return word
    return None


def exit_by_signal(signum: int, frame: FrameType | None) -> None:
    """Print the error line of a SIGTERM or SIGHUP, as train does, and exit
    with 128 plus ``signum`` (143 for SIGTERM, 129 for SIGHUP), so that the
    exit handlers run."""
    print(f"error: {stop_word(interrupt_for(signum))}", file=sys.stderr, flush=True)
    raise SystemExit(128 + signum)


def stdout_closed() -> int:
    """Return ``SIGPIPE_STATUS`` after the reader of stdout closed it, such
    as ``head`` after its lines.

    Points stdout at ``/dev/null`` so that the flush at interpreter exit
    finds no broken pipe and prints nothing.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return SIGPIPE_STATUS


def prepare_outputs(args: argparse.Namespace) -> None:
    """Check the files and folders that a command writes, before it
    computes anything, without creating any folder.

    A file's folder must exist. A folder option such as ``--out`` may name a
    missing folder whose parent exists, and the command creates it when it
    writes. Raises ``ValueError`` naming the option when one cannot be
    written.
    """
    for option in OUTPUT_FILES + OUTPUT_FOLDERS:
        path = getattr(args, option, None)
        if not isinstance(path, Path):
            continue
        is_folder = option in OUTPUT_FOLDERS
        if not is_folder and path.is_dir():
            raise ValueError(f"--{option} {path} is a folder; give a file path")
        if option == "png" and path.suffix.lower() != ".png":
            raise ValueError(
                f"--{option} {path} does not end in .png; give a file name such as "
                f"{path.stem or 'plot'}.png"
            )
        folder = path if is_folder and path.exists() else path.parent
        check_output_folder(f"--{option} {path}", folder)


def _message(exc: Exception, options: Mapping[str, str]) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(located(err, options) for err in exc.errors())
    return str(exc)
