"""Gradient statistics that training stored per epoch in a version's metadata.

``models.training`` records four numbers per epoch, all taken before
clipping. Two are averages over the epoch's batches: the L2 norm of each
parameter tensor's gradient and the global norm over all of them. The other
two are the largest global norm of any batch and the fraction of batches
whose global norm was above the clipping threshold (the spec's
``clip_norm``).
"""

from __future__ import annotations

from typing import Any

from models.errors import NotFoundError


def training_gradients(metadata: dict[str, Any]) -> dict[str, Any]:
    """Return the per-epoch gradient records and the clipping threshold.

    Versions written before per-parameter norms were recorded have empty
    ``param_grad_norms``. Raises ``NotFoundError`` when the metadata has no
    history, which the schema allows.
    """
    history = metadata.get("history")
    if not isinstance(history, list):
        raise NotFoundError(
            f"{metadata.get('name')}:{metadata.get('version')} has no training "
            "history in its metadata, so no gradients per epoch were recorded; "
            "train the model again to get a version that has them"
        )

    epochs = [
        {
            "epoch": int(record["epoch"]),
            "grad_norm": record.get("grad_norm"),
            "grad_norm_max": record.get("grad_norm_max"),
            "clip_fraction": record.get("clip_fraction"),
            "param_grad_norms": record.get("param_grad_norms") or {},
        }
        for record in history
    ]
    return {
        "name": metadata.get("name"),
        "version": metadata.get("version"),
        "cell": metadata.get("spec", {}).get("cell"),
        "clip_norm": metadata.get("spec", {}).get("clip_norm"),
        "best_epoch": metadata.get("best_epoch"),
        "epochs": epochs,
    }
