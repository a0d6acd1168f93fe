"""Per-epoch progress reports for jobs that train a network."""

from __future__ import annotations

import math
import time
from typing import Any

from models.training import EpochRecord
from service.jobs.kinds import JobContext
from service.jobs.store import WRITING_STAGE

HISTORY_FIELDS = ("epoch", "train_loss", "val_loss", "grad_norm", "seconds")


class EpochProgress:
    """An ``on_epoch`` callback that reports progress and the loss history.

    Progress is ``{"stage", "epoch", "epochs", "train_loss", "val_loss",
    "elapsed_seconds", "eta_seconds"}``. Losses are MSE in scaled units, and
    ``elapsed_seconds`` counts from the callback's creation. ``eta_seconds``
    is the mean epoch time times the epochs left, so it overestimates when
    early stopping ends the run sooner.
    """

    def __init__(self, ctx: JobContext, epochs: int) -> None:
        self.ctx = ctx
        self.epochs = epochs
        self.started = time.monotonic()
        self.history: list[dict[str, Any]] = []

    def stage(self, name: str) -> None:
        """Report a stage without a new epoch (e.g. ``"loading data"``)."""
        self.ctx.report(self._progress(name), None)

    def begin_write(self) -> None:
        """Report the stage ``"writing version"`` through ``ctx.begin_write``,
        which raises ``JobCancelled`` when a cancel came first."""
        self.ctx.begin_write(self._progress(WRITING_STAGE))

    def __call__(self, record: EpochRecord, total_epochs: int) -> None:
        self.epochs = total_epochs
        entry = {name: finite_or_none(getattr(record, name)) for name in HISTORY_FIELDS}
        self.history.append(entry)
        self.ctx.report(self._progress("training"), list(self.history))

    def _progress(self, stage: str) -> dict[str, Any]:
        last = self.history[-1] if self.history else {}
        done = len(self.history)
        eta = None
        if done:
            mean = sum(entry["seconds"] or 0.0 for entry in self.history) / done
            eta = round(mean * (self.epochs - done), 3)
        return {
            "stage": stage,
            "epoch": last.get("epoch", 0),
            "epochs": self.epochs,
            "train_loss": last.get("train_loss"),
            "val_loss": last.get("val_loss"),
            "elapsed_seconds": round(time.monotonic() - self.started, 3),
            "eta_seconds": eta,
        }


def finite_or_none(value: Any) -> Any:
    """``value`` as a JSON-safe number: None for NaN and infinities."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
