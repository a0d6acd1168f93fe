"""Peak memory of the largest gradient diagnostic that the default limits accept.

Usage: ``.venv/bin/python scripts/diagnostic_peak_memory.py [--no-jacobians]``
or ``... --lag-experiment``

The request is a fresh LSTM (its 4 gate blocks give the most parameters per
unit) of H = ``max_diagnostic_hidden_size`` over T = ``max_seq_len`` rows of
client values, with the most features per row that
``max_diagnostic_parameters`` admits. The script prints the process's peak
resident memory (VmHWM in /proc/self/status, Linux only) after the imports
and the input, and again after the diagnostic, in MB (10^6 bytes).

With ``--lag-experiment`` the script runs two Adam steps of an LSTM lag
experiment of the same H at lag 59 (T = 64), with the largest batch that
``max_lag_batch_elements`` admits, and 1,000 test sequences.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# run from a checkout, the script imports the models from it, installed or not
sys.path.insert(0, str(ROOT))
import torch  # noqa: E402

from models.diagnostic_limits import fresh_parameter_count  # noqa: E402
from models.gradients import GradientFlowSpec, compute_gradient_flow  # noqa: E402
from models.lag_task import LagExperimentParams, run_lag_experiment  # noqa: E402
from models.limits import DEFAULT_LIMITS  # noqa: E402


def peak_resident_mb() -> float:
    """Return VmHWM, the peak resident set size of this process, in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024 / 1e6
    raise RuntimeError("VmHWM not found in /proc/self/status; run on Linux")


def largest_features(hidden_size: int) -> int:
    """Return the most features per row that the parameter limit admits for
    an LSTM of ``hidden_size``, capped by the feature limit."""
    features = DEFAULT_LIMITS.max_diagnostic_features
    limit = DEFAULT_LIMITS.max_diagnostic_parameters
    while fresh_parameter_count("lstm", features, hidden_size) > limit:
        features -= 1
    return features


def measure_lag_experiment() -> None:
    """Print the peak memory of the largest lag-experiment batch."""
    hidden_size = DEFAULT_LIMITS.max_diagnostic_hidden_size
    lag, padding = 59, 5
    seq_len = lag + padding
    batch_size = DEFAULT_LIMITS.max_lag_batch_elements // (seq_len * hidden_size)
    params = LagExperimentParams(
        cells=["lstm"],
        lags=[lag],
        padding=padding,
        hidden_size=hidden_size,
        steps=2,
        batch_size=batch_size,
        test_size=1000,
    )

    before = peak_resident_mb()
    started = time.perf_counter()
    run_lag_experiment(params)
    seconds = time.perf_counter() - started
    after = peak_resident_mb()

    elements = batch_size * seq_len * hidden_size
    print(f"lstm lag experiment B = {batch_size}, T = {seq_len}, H = {hidden_size}")
    print(f"B x T x H = {elements}, 2 steps, 1000 test sequences")
    print(f"VmHWM before {before:.0f} MB, after {after:.0f} MB, in {seconds:.1f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--no-jacobians", action="store_true", help="skip the Jacobian norms"
    )
    parser.add_argument(
        "--lag-experiment",
        action="store_true",
        help="measure the largest lag-experiment batch instead",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    if args.lag_experiment:
        measure_lag_experiment()
        return 0

    hidden_size = DEFAULT_LIMITS.max_diagnostic_hidden_size
    seq_len = DEFAULT_LIMITS.max_seq_len
    features = largest_features(hidden_size)
    generator = torch.Generator().manual_seed(0)
    values = torch.randn(seq_len, features, generator=generator, dtype=torch.float64)
    spec = GradientFlowSpec.model_validate(
        {
            "cell": "lstm",
            "hidden_size": hidden_size,
            "input": {"source": "values", "values": values.tolist()},
            "jacobians": not args.no_jacobians,
        }
    )
    del values

    before = peak_resident_mb()
    started = time.perf_counter()
    compute_gradient_flow(spec)
    seconds = time.perf_counter() - started
    after = peak_resident_mb()

    parameters = fresh_parameter_count("lstm", features, hidden_size)
    print(
        f"lstm H = {hidden_size}, T = {seq_len}, F = {features}, "
        f"{parameters} parameters, jacobians {not args.no_jacobians}"
    )
    print(f"VmHWM before {before:.0f} MB, after {after:.0f} MB, in {seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
