"""The forecaster: a fused torch recurrent core and a direct multi-step head."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from models.nn import fused_gru

CORES: dict[str, type[nn.RNNBase]] = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


class Forecaster(nn.Module):
    """Recurrent core (``nn.RNN``, ``nn.LSTM`` or ``nn.GRU``) plus a linear head.

    The core reads the window x (B, T, F) and the head maps its last hidden
    state h_T (B, H) of the top layer to all K future values at once:
    y = W_o h_T + b_o, y (B, K). Dropout between stacked layers is torch's; it
    needs L >= 2, which the training spec enforces. Initialisation is torch's
    default: every weight and bias uniform(-1/sqrt(H), 1/sqrt(H)) for the core
    and uniform(-1/sqrt(H), 1/sqrt(H)) for the head.
    """

    def __init__(
        self,
        cell: str,
        *,
        input_size: int,
        hidden_size: int,
        num_layers: int,
        horizon: int,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if cell not in CORES:
            raise ValueError(f"cell {cell!r} is unknown; use one of {sorted(CORES)}")

        self.cell = cell
        self.config = {
            "cell": cell,
            "input_size": input_size,
            "hidden_size": hidden_size,
            "num_layers": num_layers,
            "horizon": horizon,
            "dropout": dropout,
        }
        self.core = CORES[cell](
            input_size=input_size,
            hidden_size=hidden_size,
            num_layers=num_layers,
            dropout=dropout if num_layers > 1 else 0.0,
            batch_first=True,
        )
        self.head = nn.Linear(hidden_size, horizon)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map windows x (B, T, F) to forecasts (B, K) in scaled units.

        A GRU that records gradients on the CPU runs on the fused layer of
        ``models.nn.fused_gru``, which computes the same function.
        """
        if fused_gru.applies(self.core, x):
            out = fused_gru.run(self.core, x)
        else:
            out, _ = self.core(x)
        return self.head(out[:, -1])

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Forecaster:
        return cls(
            config["cell"],
            input_size=config["input_size"],
            hidden_size=config["hidden_size"],
            num_layers=config["num_layers"],
            horizon=config["horizon"],
            dropout=config.get("dropout", 0.0),
        )
