"""The benchmark helpers: FLOP counts, wrk parsing, load bounds, rounds."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from bench import servers
from bench.common import Summary, check_repeats, interleave, ratio, verdict
from bench.darts_models import missing_message
from bench.flops import forward_flops, training_epoch_flops
from bench.gru_layer import GRULayer, largest_gradient_gap, run_layers
from bench.load import _parse_wrk, check_target
from bench.model import ONE_STEP, window_flops
from bench.ports import PORTS_VARIABLE, free_port
from bench.servers import BENCH_SPEC
from bench.serving import results_name
from models.spec import TrainingSpec

WRK_OUTPUT = """Running 3s test @ http://127.0.0.1:8000/v1/models/nflx/forecast
  1 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.23ms  456.00us   9.87ms   90.00%
    Req/Sec     5.00k   300.00     6.00k    70.00%
  Latency Distribution
     50%  850.00us
     75%    1.40ms
     90%    1.90ms
     99%    3.50ms
  14985 requests in 3.00s, 12.34MB read
  Non-2xx or 3xx responses: 2
Requests/sec:   4990.12
Transfer/sec:      4.11MB
"""


def test_lstm_forward_flops_by_hand() -> None:
    # per step: layer 1 2*1*256 + 2*64*256 + 2*256, layer 2 2*64*256 twice
    # + 2*256; the head 2*64*10 + 10
    per_step = (512 + 32_768 + 512) + (32_768 + 32_768 + 512)
    assert forward_flops("lstm", 64, 2, 60, 10) == 60 * per_step + 1_290


def test_gru_has_three_quarters_of_lstm_gate_flops() -> None:
    lstm = forward_flops("lstm", 32, 1, 10, 1) - (2 * 32 + 1)
    gru = forward_flops("gru", 32, 1, 10, 1) - (2 * 32 + 1)
    assert gru * 4 == lstm * 3


def test_epoch_flops_count_backward_twice() -> None:
    spec = TrainingSpec()
    forward = forward_flops("lstm", 64, 2, 60, 10)
    assert training_epoch_flops(spec, 100, 10) == forward * (3 * 100 + 10)


def test_model_rows_count_their_own_window_length() -> None:
    full = window_flops("served forecaster")
    assert full == forward_flops("lstm", 64, 2, BENCH_SPEC.lookback, 10)
    assert window_flops(ONE_STEP) == forward_flops("lstm", 64, 2, 1, 10)


def test_wrk_output_is_parsed() -> None:
    result = _parse_wrk(WRK_OUTPUT)
    assert result.p50 == pytest.approx(850e-6)
    assert result.p99 == pytest.approx(3.5e-3)
    assert result.throughput == pytest.approx(4990.12)
    assert result.requests == 14_985
    assert result.errors == 2


def test_unparsable_wrk_output_raises() -> None:
    with pytest.raises(RuntimeError, match="could not parse wrk output"):
        _parse_wrk("connection refused")


@pytest.mark.parametrize(
    ("url", "clients", "seconds", "message"),
    [
        ("http://10.0.0.1:8000/x", 1, 1, "is not on 127.0.0.1"),
        ("http://example.com/x", 1, 1, "is not on 127.0.0.1"),
        ("http://127.0.0.1:8000/x", 0, 1, "clients=0 is outside"),
        ("http://127.0.0.1:8000/x", 1000, 1, "clients=1000 is outside"),
        ("http://127.0.0.1:8000/x", 1, 0, "seconds=0 is outside"),
        ("http://127.0.0.1:8000/x", 1, 3600, "seconds=3600 is outside"),
    ],
)
def test_load_is_loopback_and_bounded(
    url: str, clients: int, seconds: float, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        check_target(url, clients, seconds)


def test_interleave_runs_round_by_round() -> None:
    calls: list[str] = []

    def measure(name: str, value: float):  # noqa: ANN202
        def run() -> float:
            calls.append(name)
            return value

        return run

    samples = interleave({"a": measure("a", 1.0), "b": measure("b", 2.0)}, 5)

    assert calls == ["a", "b"] * 6
    assert samples == {"a": [1.0] * 5, "b": [2.0] * 5}


def test_too_few_repeats_are_rejected() -> None:
    with pytest.raises(ValueError, match="repeats=4 is below 5"):
        check_repeats(4)


def test_summary_ratio_and_verdict() -> None:
    summary = Summary.of([3.0, 1.0, 2.0, 5.0, 4.0])
    assert (summary.median, summary.low, summary.high, summary.count) == (
        3.0,
        1.0,
        5.0,
        5,
    )
    assert Summary.from_dict(summary.to_dict()) == summary
    assert ratio([2.0, 4.0, 6.0], [1.0, 2.0, 3.0]) == 2.0
    assert verdict(1.1, 1.2, at_most=True) == "met"
    assert verdict(0.5, 0.6, at_most=False) == "NOT met"


def test_missing_comparison_package_is_named() -> None:
    message = missing_message("no_such_package_for_bench")
    assert message is not None
    assert "no_such_package_for_bench is NOT installed" in message
    assert "pip install -e '.[bench]'" in message
    assert missing_message("numpy") is None


def test_gru_layer_matches_torch_gradients() -> None:
    torch.manual_seed(0)
    core = nn.GRU(1, 8, 2, batch_first=True)
    head = nn.Linear(8, 3)
    x, y = torch.randn(4, 12, 1), torch.randn(4, 3)

    assert largest_gradient_gap(core, head, x, y) < 1e-5
    assert torch.allclose(run_layers(core, x), core(x)[0], atol=1e-6)


def test_gru_layer_passes_gradcheck() -> None:
    generator = torch.Generator().manual_seed(1)

    def tensor(*shape: int) -> torch.Tensor:
        values = torch.randn(*shape, generator=generator, dtype=torch.float64)
        return values.requires_grad_()

    inputs = (tensor(5, 3, 2), tensor(3, 4), tensor(12, 2), tensor(12, 4))
    biases = (tensor(12), tensor(12))
    assert torch.autograd.gradcheck(GRULayer.apply, (*inputs, *biases))


def test_serving_results_name_the_model_size() -> None:
    small = BENCH_SPEC.model_copy(update={"hidden_size": 8, "num_layers": 1})

    assert results_name(BENCH_SPEC) == "serving"
    assert results_name(small) == "serving-h8-l1"
    assert results_name(BENCH_SPEC, torch_operator=True) == "serving-torch-operator"
    assert results_name(small, torch_operator=True) == "serving-h8-l1-torch-operator"


def test_bench_servers_take_port_range(monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    monkeypatch.setenv(PORTS_VARIABLE, f"{port}-{port}")

    assert servers.free_port() == port
