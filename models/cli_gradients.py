"""Subcommand ``gradients`` of rnn-forecast: gradient diagnostics.

- ``gradients flow``: gradient norms through time for one or several cells
  (``--cell`` repeated) or a stored version, printed as a table and plotted
  with ``--png``,
- ``gradients training NAME[:VERSION]``: the gradient norms that training
  recorded per epoch,
- ``gradients lag-experiment``: train RNN, LSTM and GRU on the lag task and
  report which cell learns which lag.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, get_args

import torch
from pydantic import ValidationError

from models.cli import off_flag
from models.cli_inputs import (
    input_path,
    output_path,
    read_json_file,
    split_version_ref,
)
from models.cli_integers import integer
from models.diagnostic_limits import check_lag_batch
from models.errors import InvalidInputError
from models.gradient_inputs import NoiseInput, ValuesInput
from models.gradients import (
    HIDDEN_SIZE_SETTING,
    GradientFlow,
    GradientFlowSpec,
    compute_gradient_flow,
)
from models.lag_task import (
    LagExperimentParams,
    initial_ratio_markdown,
    lag_table_markdown,
    run_lag_experiment,
)
from models.limits import Limits, limits_from_env
from models.option_errors import CLIP_OFF, error_text, range_text, validate_options
from models.registry import LoadedModel, Registry
from models.spec import CellType
from models.training_gradients import training_gradients
from models.version_checks import GRADIENT_FLOW, check_gradient_history

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# Distances (steps back from the last step) shown in the flow table.
TABLE_DISTANCES = (1, 5, 10, 20, 50, 100, 200, 500)
# the content of a --values file, for its messages
VALUES_CONTENT = "input values (T numbers, or T rows of F numbers)"
CELL_CHOICES: tuple[str, ...] = get_args(CellType)

# the options of gradients flow, by the field of GradientFlowSpec they set
FLOW_OPTIONS = {
    "cell": "--cell",
    "hidden_size": "--hidden-size",
    "activation": "--activation",
    "init": "--init",
    "spectral_radius": "--spectral-radius",
    "forget_bias": "--forget-bias",
    "update_bias": "--update-bias",
    "seq_len": "--seq-len",
    "clip_norm": "--clip-norm",
    "seed": "--seed",
    "model": "--model",
    "model.name": "--model",
    "model.version": "--model",
    "model.layer": "--layer",
    "input.bundled.end": "--end",
    # the name that run-time errors of the bundled window give the field
    "input.end": "--end",
    "input.values": "--values",
}
# the options of gradients lag-experiment, by the field of
# LagExperimentParams they set
LAG_OPTIONS = {
    "cells": "--cells",
    "lags": "--lags",
    "steps": "--steps",
    "hidden_size": "--hidden-size",
    "batch_size": "--batch-size",
    "learning_rate": "--learning-rate",
    "gate_bias": "--gate-bias",
    "test_size": "--test-size",
    "seed": "--seed",
}


def register(commands: Any) -> None:
    """Add ``gradients`` and its three subcommands to the parser."""
    gradients = commands.add_parser(
        "gradients", help="gradient diagnostics: flow through time, training, lags"
    )
    sub = gradients.add_subparsers(dest="gradients_command", required=True)
    _add_flow(sub)
    _add_training(sub)
    _add_lag_experiment(sub)


def _add_flow(sub: Any) -> None:
    flow = sub.add_parser(
        "flow", help="gradient norms through time of fresh cells or a stored version"
    )
    flow.set_defaults(handler=cmd_flow)
    flow.add_argument(
        "--cell",
        action="append",
        choices=CELL_CHOICES,
        help="cell to analyse; repeat to compare cells (default: rnn)",
    )

    flow.add_argument("--model", help="stored version NAME or NAME:VERSION")
    flow.add_argument("--layer", type=integer, help="layer of --model (default: top)")

    flow.add_argument("--hidden-size", type=integer, help="hidden units H (default 32)")
    flow.add_argument("--activation", choices=["tanh", "identity"], help="RNN only")
    flow.add_argument(
        "--init",
        choices=["default", "orthogonal", "identity"],
        help="initialisation of each gate block of W_h",
    )
    flow.add_argument(
        "--spectral-radius", type=float, help="rescale each W_h gate block to this"
    )
    flow.add_argument("--forget-bias", type=float, help="LSTM forget-gate bias")
    flow.add_argument(
        "--update-bias",
        type=float,
        help="GRU update-gate bias; z near 1 keeps the state",
    )

    flow.add_argument("--seq-len", type=integer, help="time steps T (default 100)")
    flow.add_argument(
        "--input",
        choices=["noise", "bundled"],
        help="N(0, 1) noise (the default) or a window of the bundled NFLX data",
    )
    flow.add_argument(
        "--end", help="last date of the bundled window, YYYY-MM-DD (--input bundled)"
    )
    flow.add_argument(
        "--values",
        type=input_path,
        help="JSON file with the input sequence (T or T x F), in place of --input",
    )

    flow.add_argument(
        "--clip-norm",
        type=float,
        help="global gradient L2 norm to clip to; 0 turns clipping off (default)",
    )
    flow.add_argument(
        "--seed", type=integer, default=0, help="seed of weights and noise"
    )
    flow.add_argument(
        "--no-jacobians", action="store_true", help="skip the Jacobian norms"
    )

    flow.add_argument("--png", type=output_path, help="write the plot to this PNG file")
    flow.add_argument("--json", action="store_true", help="print the results as JSON")
    _add_threads_option(flow)


def _add_training(sub: Any) -> None:
    training = sub.add_parser(
        "training", help="gradient norms recorded per epoch of a stored version"
    )
    training.set_defaults(handler=cmd_training)
    training.add_argument("ref", help="NAME or NAME:VERSION (a number or an alias)")
    training.add_argument(
        "--png", type=output_path, help="write the plot to this PNG file"
    )
    training.add_argument("--json", action="store_true", help="print as JSON")


def _add_lag_experiment(sub: Any) -> None:
    defaults = LagExperimentParams()
    lag = sub.add_parser(
        "lag-experiment",
        help="train RNN, LSTM and GRU to recall an input k steps back",
    )
    lag.set_defaults(handler=cmd_lag_experiment)
    lag.add_argument(
        "--cells",
        type=comma_cells,
        default=",".join(defaults.cells),
        help="comma-separated cells, from rnn, lstm and gru",
    )
    lag.add_argument(
        "--lags",
        type=comma_integers,
        default=",".join(str(k) for k in defaults.lags),
        help="comma-separated lags k, whole numbers of steps",
    )

    lag.add_argument("--steps", type=integer, default=defaults.steps, help="Adam steps")
    lag.add_argument("--hidden-size", type=integer, default=defaults.hidden_size)
    lag.add_argument("--batch-size", type=integer, default=defaults.batch_size)
    lag.add_argument("--learning-rate", type=float, default=defaults.learning_rate)
    gate_init = lag.add_mutually_exclusive_group()
    gate_init.add_argument(
        "--gate-bias",
        type=float,
        default=defaults.gate_bias,
        help="initial LSTM forget-gate and GRU update-gate bias",
    )
    gate_init.add_argument(
        "--default-init",
        action="store_true",
        help="keep torch's default gate biases instead of --gate-bias",
    )
    lag.add_argument("--test-size", type=integer, default=defaults.test_size)
    lag.add_argument("--seed", type=integer, default=defaults.seed)

    lag.add_argument("--png", type=output_path, help="write the plot to this PNG file")
    lag.add_argument(
        "--markdown", type=output_path, help="write the table to this file"
    )
    lag.add_argument(
        "--json", type=output_path, help="write the full result to this file"
    )
    _add_threads_option(lag)


# The bounds of the service's RNN_FORECAST_TORCH_THREADS. torch 2.13 raises
# RuntimeError below 1, and 100,000 threads ended the process with SIGSEGV.
MAX_TORCH_THREADS = 256


def _add_threads_option(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--torch-threads",
        type=thread_count,
        default=1,
        help="torch intra-op threads, 1 to 256 (default 1: these networks are "
        "too small to gain from more, and extra threads slow down on a busy "
        "machine)",
    )


def thread_count(text: str) -> int:
    """Parse ``--torch-threads``: a whole number from 1 to ``MAX_TORCH_THREADS``,
    written with the digits 0-9 (``integer``).

    Raises ``argparse.ArgumentTypeError`` for anything else.
    """
    try:
        value: int | None = integer(text)
    except argparse.ArgumentTypeError:
        value = None
    if value is None or not 1 <= value <= MAX_TORCH_THREADS:
        raise argparse.ArgumentTypeError(
            f"{text!r} is invalid; give a whole number of threads from 1 to "
            f"{MAX_TORCH_THREADS} written with the digits 0-9, such as 1"
        )
    return value


def comma_items(text: str, example: str) -> list[str]:
    """Split a comma-separated list such as ``5,10,20`` into its items.

    ``example`` is a valid list, shown in messages. Raises
    ``argparse.ArgumentTypeError`` for an empty list or an empty item.
    """
    if not text.strip():
        raise argparse.ArgumentTypeError(
            f"the list is empty; give comma-separated items such as {example}"
        )
    items = [item.strip() for item in text.split(",")]
    if "" in items:
        position = items.index("") + 1
        raise argparse.ArgumentTypeError(
            f"{text!r} has an empty item at position {position}; remove the extra "
            f"comma, as in {example}"
        )
    return items


def comma_integers(text: str) -> list[int]:
    """Parse a comma-separated list of lags in steps such as ``5,10,20``.

    Raises ``argparse.ArgumentTypeError`` naming the item that is not a
    positive whole number, or an empty item.
    """
    example = "5,10,20"
    items = comma_items(text, example)
    for item in items:
        # isdecimal alone accepts the digits of other scripts, such as "١"
        if not (item.isascii() and item.isdecimal()):
            raise argparse.ArgumentTypeError(
                f"{item!r} is not a positive whole number written with the "
                f"digits 0-9; give comma-separated lags in steps such as {example}"
            )
    return [integer(item) for item in items]


def comma_cells(text: str) -> list[str]:
    """Parse a comma-separated list of cells such as ``rnn,gru``.

    Raises ``argparse.ArgumentTypeError`` naming an item that is not one of
    ``CELL_CHOICES``, or an empty item.
    """
    allowed = ", ".join(CELL_CHOICES)
    items = comma_items(text, "rnn,lstm,gru")
    for item in items:
        if item not in CELL_CHOICES:
            raise argparse.ArgumentTypeError(
                f"{item!r} is not a valid cell; use comma-separated cells from "
                f"{allowed}"
            )
    return items


def cmd_flow(args: argparse.Namespace, registry: Registry) -> int:
    torch.set_num_threads(args.torch_threads)
    limits = limits_from_env()
    cells = args.cell or [None]
    if args.model is not None and len(cells) > 1:
        raise ValueError("--model analyses one stored version; give at most one --cell")

    flows: list[tuple[str, GradientFlow]] = []
    for cell in cells:
        spec = _flow_spec(args, cell, limits)
        stored = None
        if spec.model is not None:
            stored = registry.load(spec.model.name, spec.model.version, GRADIENT_FLOW)
        flow = _compute_flow(spec, stored, limits, args.values)
        flows.append((_label(flow), flow))

    if args.json:
        print(json.dumps([flow.to_dict() for _, flow in flows], indent=2))
    else:
        _print_flows(flows)
    if args.png is not None:
        # matplotlib loads only when a plot is requested
        from models.experiment_plots import save
        from models.plots import GradientCurve, gradient_flow_figure

        curves = [GradientCurve.from_flow(label, flow) for label, flow in flows]
        first = flows[0][1].network
        title = (
            f"gradient through time, H = {first['hidden_size']}, T = {first['seq_len']}"
        )
        save(gradient_flow_figure(curves, title), args.png)
        print(f"wrote {args.png}")
    return 0


def _compute_flow(
    spec: GradientFlowSpec,
    stored: LoadedModel | None,
    limits: Limits,
    values_path: Path | None,
) -> GradientFlow:
    """Run ``compute_gradient_flow``, naming the ``--values`` file in an
    error about its rows."""
    try:
        return compute_gradient_flow(spec, stored=stored, limits=limits)
    except InvalidInputError as exc:
        if values_path is None or exc.field != "input.values":
            raise
        message = f"--values {values_path}: {exc.message}"
        raise type(exc)(message, field=exc.field) from None


def _flow_spec(
    args: argparse.Namespace, cell: str | None, limits: Limits
) -> GradientFlowSpec:
    """Build the spec of one cell from the options; raise ``ValueError``
    naming each invalid option and the range that it accepts."""
    fields: dict[str, Any] = {
        "cell": cell,
        "hidden_size": args.hidden_size,
        "activation": args.activation,
        "init": args.init,
        "spectral_radius": args.spectral_radius,
        "forget_bias": args.forget_bias,
        "update_bias": args.update_bias,
        "seq_len": args.seq_len,
        "clip_norm": off_flag("--clip-norm", args.clip_norm, CLIP_OFF),
        "seed": args.seed,
        "jacobians": not args.no_jacobians,
    }
    if args.model is not None:
        name, ref = split_version_ref("--model", args.model)
        fields["model"] = {
            "name": name,
            "version": ref,
            "layer": args.layer,
        }

    _check_ignored_options(args)
    if args.values is not None:
        values = read_json_file("--values", args.values, list, VALUES_CONTENT)
        fields["input"] = values_input(args.values, values)
    elif args.input == "bundled":
        fields["input"] = {"source": "bundled", "end": args.end}
    maximums = flow_maximums(limits)
    spec = validate_options(GradientFlowSpec, fields, FLOW_OPTIONS, maximums)
    for field, maximum in maximums.items():
        check_option_maximum(field, getattr(spec, field), maximum)
    if isinstance(spec.input, NoiseInput):
        # the noise takes --seed, which the spec has checked already
        spec = spec.model_copy(update={"input": NoiseInput(seed=spec.seed)})
    return spec


# the limits that bound fields of GradientFlowSpec, and the variables that
# set them, by field
FLOW_LIMITS = {
    "hidden_size": ("max_diagnostic_hidden_size", HIDDEN_SIZE_SETTING),
    "seq_len": ("max_seq_len", "RNN_FORECAST_MAX_SEQ_LEN"),
}


def flow_maximums(limits: Limits) -> dict[str, int]:
    """Return the upper bound of each field in ``FLOW_LIMITS``."""
    return {field: getattr(limits, name) for field, (name, _) in FLOW_LIMITS.items()}


def check_option_maximum(field: str, value: int | None, maximum: int) -> None:
    """Raise ``ValueError`` naming the option of the ``GradientFlowSpec``
    field ``field`` when ``value`` is above ``maximum``, a limit that an
    environment variable raises."""
    if value is None or value <= maximum:
        return
    option = FLOW_OPTIONS[field]
    setting = FLOW_LIMITS[field][1]
    raise ValueError(
        f"{option} {value} is above the limit of {maximum}; send {option} "
        f"{range_text(GradientFlowSpec, field, maximum)}, or raise {setting}"
    )


def values_input(path: Path, values: list[Any]) -> ValuesInput:
    """Validate the content of the ``--values`` file ``path``; raise
    ``ValueError`` naming the file and each invalid item by its index."""
    try:
        return ValuesInput(values=values)
    except ValidationError as exc:
        problems = [_values_error(path, err) for err in exc.errors()]
        raise ValueError("; ".join(problems)) from None


def _values_error(path: Path, err: Any) -> str:
    """Return one error of a ``--values`` file, with the item and, in a
    row, the number that it concerns."""
    indexes = [part for part in err["loc"][1:] if isinstance(part, int)]
    place = ""
    if indexes:
        place = f"item {indexes[0]}"
    if len(indexes) > 1:
        place += f", number {indexes[1]}"
    text = error_text(err)
    return f"--values {path}: {place}: {text}" if place else f"--values {path}: {text}"


def _check_ignored_options(args: argparse.Namespace) -> None:
    """Raise ValueError for options that the chosen network or input would
    ignore."""
    if args.layer is not None and args.model is None:
        raise ValueError(
            "--layer selects a layer of a stored version; add --model NAME or "
            "remove --layer"
        )
    if args.values is not None and args.input is not None:
        raise ValueError(f"--values replaces --input {args.input}; give one of them")
    if args.end is not None and args.input != "bundled":
        given = f"--input {args.input or 'noise'}"
        if args.values is not None:
            given = "--values"
        raise ValueError(
            f"--end applies only to --input bundled, but the input is {given}; "
            "remove --end, or use --input bundled"
        )


def _label(flow: GradientFlow) -> str:
    network = flow.network
    if network["model"] is not None:
        model = network["model"]
        return f"{model['name']}:{model['version']} {network['cell']}"
    return str(network["cell"])


def _print_flows(flows: list[tuple[str, GradientFlow]]) -> None:
    for label, flow in flows:
        summary = flow.trace.summary
        network = flow.network
        rate = (
            "n/a" if summary.rate_per_step is None else f"{summary.rate_per_step:.4g}"
        )
        radii = _radii_text(flow.trace.gate_spectral_radii)
        print(
            f"{label}: H = {network['hidden_size']}, T = {network['seq_len']}, "
            f"spectral radius of W_h {flow.trace.spectral_radius:.4g}"
            + (f" {radii}" if radii else "")
        )
        print(
            f"  rate per step {rate}, ||dL/dh_0|| / ||dL/dh_(T-1)|| = "
            f"{summary.first_to_last_ratio:.3e}, "
            f"{_distance_text('below 1e-3', summary.vanish_distance)}, "
            f"{_distance_text('above 1e3', summary.explode_distance)}"
        )
        clipping = flow.trace.clipping
        clip = (
            f", after clipping at {clipping.threshold:g}: {clipping.norm_after:.4g}"
            if clipping.threshold is not None
            else ""
        )
        print(f"  global gradient norm {clipping.norm_before:.4g}{clip}")

    seq_len = min(int(flow.network["seq_len"]) for _, flow in flows)
    distances = [d for d in TABLE_DISTANCES if d < seq_len]
    print()
    print("ratio ||dL/dh_t|| / ||dL/dh_(T-1)|| at distance T-1-t")
    print(f"{'':16}" + "".join(f"{d:>11}" for d in distances))
    for label, flow in flows:
        norms = flow.trace.grad_norms
        row = "".join(f"{norms[-1 - d] / norms[-1]:>11.2e}" for d in distances)
        print(f"{label[:16]:16}{row}")


def _radii_text(radii: dict[str, float]) -> str:
    if len(radii) == 1:
        return ""
    return "(gates " + ", ".join(f"{k} {v:.3g}" for k, v in radii.items()) + ")"


def _distance_text(bound: str, distance: int | None) -> str:
    """Name the first distance at which the gradient ratio is ``bound``, such
    as "first below 1e-3 at distance 12", or "never below 1e-3".

    The ratio can cross back at a larger distance, so the text does not say
    that it stays there.
    """
    if distance is None:
        return f"never {bound}"
    return f"first {bound} at distance {distance}"


def cmd_training(args: argparse.Namespace, registry: Registry) -> int:
    name, ref = split_version_ref("gradients training", args.ref)
    version = registry.resolve(name, ref)
    meta = registry.metadata(name, version)
    record = training_gradients(meta)

    if args.json:
        print(json.dumps(record, indent=2))
    else:
        check_gradient_history(meta, f"{name}:{version}")
        for line in training_table(f"{name}:{version}", record):
            print(line)
    if args.png is not None:
        from models.experiment_plots import save
        from models.plots import training_gradients_figure

        title = f"{name}:{version} ({record['cell']}): gradient norm per epoch"
        figure = training_gradients_figure(record["epochs"], record["clip_norm"], title)
        save(figure, args.png)
        print(f"wrote {args.png}")
    return 0


def training_table(label: str, record: dict[str, Any]) -> list[str]:
    """Format the per-epoch gradient norms of ``training_gradients`` as text.

    A version trained without clipping has ``clip_norm`` None, so its header
    says that clipping was off and its clipped column shows "off".
    """
    clip_norm = record["clip_norm"]
    if clip_norm is None:
        lines = [f"{label} ({record['cell']}), clipping off"]
    else:
        lines = [f"{label} ({record['cell']}), clip threshold {clip_norm}"]
    lines.append(f"{'epoch':>6}{'mean norm':>12}{'max norm':>12}{'clipped':>10}")
    for epoch in record["epochs"]:
        clipped = "off" if clip_norm is None else f"{epoch['clip_fraction']:.1%}"
        lines.append(
            f"{epoch['epoch']:>6}{epoch['grad_norm']:>12.4g}"
            f"{epoch['grad_norm_max']:>12.4g}{clipped:>10}"
        )
    return lines


def cmd_lag_experiment(args: argparse.Namespace, registry: Registry) -> int:
    torch.set_num_threads(args.torch_threads)
    fields = {
        "cells": args.cells,
        "lags": args.lags,
        "steps": args.steps,
        "hidden_size": args.hidden_size,
        "batch_size": args.batch_size,
        "learning_rate": args.learning_rate,
        "gate_bias": None if args.default_init else args.gate_bias,
        "test_size": args.test_size,
        "seed": args.seed,
    }
    params = validate_options(LagExperimentParams, fields, LAG_OPTIONS)
    limits = limits_from_env()
    check_lag_batch(
        params.batch_size, params.seq_len, params.hidden_size, limits, LAG_OPTIONS
    )
    result = run_lag_experiment(
        params,
        _print_progress,
        max_batch_elements=limits.max_lag_batch_elements,
    )

    table = lag_table_markdown(result)
    print(table)
    for cell, lags in result["learned_lags"].items():
        print(f"{cell} learned lags: {lags or 'none'}")
    print(f"took {result['seconds']:.1f} s")

    if args.markdown is not None:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(_markdown_report(result, table))
        print(f"wrote {args.markdown}")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))
        print(f"wrote {args.json}")
    if args.png is not None:
        from models.experiment_plots import save

        save(_lag_figure(result), args.png)
        print(f"wrote {args.png}")
    return 0


def _print_progress(progress: dict[str, Any]) -> None:
    if progress.get("stage") == "run finished":
        print(
            f"[{progress['done']}/{progress['total']}] {progress['cell']} lag "
            f"{progress['lag']}: R² {progress['r2']:.3f} "
            f"in {progress['seconds']:.1f} s",
            flush=True,
        )


def _lag_figure(result: dict[str, Any]) -> Figure:
    from models.plots import GradientCurve, lag_experiment_figure

    accuracy = {
        cell: {r["lag"]: r["r2"] for r in result["runs"] if r["cell"] == cell}
        for cell in result["params"]["cells"]
    }
    longest = str(max(result["params"]["lags"]))
    curves = [
        GradientCurve(f"{cell}, k = {longest}", result["curves"][cell][longest])
        for cell in result["params"]["cells"]
    ]
    title = (
        f"recall the input k steps back (T = {result['seq_len']}, "
        f"{result['params']['steps']} steps per run)"
    )
    return lag_experiment_figure(accuracy, curves, title)


def _markdown_report(result: dict[str, Any], table: str) -> str:
    params = result["params"]
    gate_bias = (
        "torch's default gate biases"
        if params["gate_bias"] is None
        else f"initial LSTM forget-gate and GRU update-gate bias {params['gate_bias']}"
    )
    clipping = (
        "no gradient clipping"
        if params["clip_norm"] is None
        else f"gradient clipping at {params['clip_norm']}"
    )
    lines = [
        "# Lag experiment",
        "",
        f"T = {result['seq_len']}, hidden size {params['hidden_size']}, "
        f"{params['steps']} Adam steps of batch {params['batch_size']} at learning "
        f"rate {params['learning_rate']}, {clipping}, {gate_bias}, "
        f"seed {params['seed']}. A lag counts as learned at R² >= "
        f"{params['learned_r2']} on {params['test_size']} held-out sequences. "
        "grad is ||dL/dh_(T-1-k)|| / ||dL/dh_(T-1)|| after training.",
        "",
        table,
        "",
    ]
    for cell, lags in result["learned_lags"].items():
        lines.append(f"- {cell} learned lags: {lags or 'none'}")
    lines += [
        "",
        "Gradient ratio ||dL/dh_(T-1-k)|| / ||dL/dh_(T-1)|| before training, "
        "on the same held-out sequence:",
        "",
        initial_ratio_markdown(result),
        "",
    ]
    return "\n".join(lines)
