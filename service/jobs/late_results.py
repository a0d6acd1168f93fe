"""The result of a worker that finished after its job was failed as
interrupted, such as a job that the stale heartbeat sweep failed while its
worker was stalled in a registry write.

Such a job stays ``failed``, because clients may have acted on that status,
and gets the worker's result. Its failure may already have stored the
version that the job wrote, found in the registry by
``recovery.written_version``, as ``name`` and ``version``. The worker's
result then extends that one.
"""

from __future__ import annotations

from typing import Any


def merge_late_result(
    stored: dict[str, Any] | None, result: dict[str, Any]
) -> dict[str, Any] | None:
    """Return ``result`` merged into ``stored``, the result that the job's
    failure recorded, or ``result`` itself when there is none.

    None when the two disagree on a field that both have, such as another
    version, or when ``stored`` already contains every field of ``result``:
    the stored result then stays as it is.
    """
    if stored is None:
        return result
    if any(key in result and result[key] != value for key, value in stored.items()):
        return None
    merged = {**stored, **result}
    return None if merged == stored else merged


def late_result_note(stored: dict[str, Any] | None, result: dict[str, Any]) -> str:
    """Write the sentence that a late ``result`` adds to its job's error.

    A job whose error already names the version that its failure recorded
    (``stored``) gets a sentence that states that the worker finished.
    """
    if stored is not None:
        return (
            "The worker kept running and then finished, so result contains its "
            "full output"
        )
    name, version = result.get("name"), result.get("version")
    if isinstance(version, int):
        # a tuning job's result has the version but not the model's name
        written = f"version {version}"
        if isinstance(name, str):
            written = f"{written} of {name}"
        return (
            f"The worker kept running and then wrote {written}, which result "
            "names; use that version instead of submitting the job again"
        )
    return "The worker kept running and then finished; result contains its output"
