"""The command line's per-epoch progress bar (tqdm)."""

from __future__ import annotations

from tqdm import tqdm

from models.training import EpochRecord


class ProgressBar:
    """A tqdm bar over epochs showing the latest losses and gradient norm."""

    def __init__(self, *, enabled: bool = True) -> None:
        self.enabled = enabled
        self._bar: tqdm | None = None

    def update(self, record: EpochRecord, total: int) -> None:
        if not self.enabled:
            return
        if self._bar is None:
            self._bar = tqdm(total=total, unit="epoch", desc="training")
        self._bar.set_postfix(
            train=f"{record.train_loss:.4f}",
            val=f"{record.val_loss:.4f}",
            grad=f"{record.grad_norm:.3f}",
        )
        self._bar.update(1)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
