"""Cooperative cancellation of a computation that runs on a worker thread.

The caller passes a ``StopCheck``, such as the ``is_set`` of a
``threading.Event`` that it sets to cancel. The computation calls
``stop_if_requested`` between its steps, so it ends at the next step with
``ComputationCancelled`` and no thread is ever interrupted from outside.
"""

from __future__ import annotations

from collections.abc import Callable

StopCheck = Callable[[], bool]


class ComputationCancelled(Exception):
    """Raised inside a computation whose ``StopCheck`` returned True."""


def stop_if_requested(should_stop: StopCheck | None, computation: str) -> None:
    """Raise ``ComputationCancelled`` when ``should_stop`` returns True;
    ``computation`` names the computation in the message."""
    if should_stop is not None and should_stop():
        raise ComputationCancelled(f"{computation} was cancelled")
