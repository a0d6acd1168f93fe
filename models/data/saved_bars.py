"""How to load Yahoo Finance bars that the user saved as a CSV file.

The fixes of errors and notes about downloaded bars end with this step,
because the user can correct or complete a saved file but not Yahoo's data.
A file is loaded with ``csv:PATH`` on the command line and uploaded with
``POST /v1/series`` over HTTP, under the service's root path
(``RNN_FORECAST_ROOT_PATH``, such as ``/rnn``).

Errors name the upload path under the root path of the process that raises
them. Notes are stored with a version or a job result, which the API may
serve under another root path than the process that trained, so they name
the path without one, and the API puts its own in front
(``with_root_path``).
"""

from __future__ import annotations


def saved_file_step(root_path: str = "") -> str:
    """Return "load that file (...)", naming the upload path under
    ``root_path``, the service's root path (empty on the command line)."""
    return (
        "load that file (csv:PATH on the command line, "
        f"POST {root_path}/v1/series over HTTP)"
    )


def with_root_path(note: str, root_path: str) -> str:
    """Return ``note``, a stored note, with the upload path of its
    ``saved_file_step`` under ``root_path``. A note stored with a root path
    already, as releases before this one stored it, is returned unchanged."""
    if not root_path:
        return note
    return note.replace(saved_file_step(), saved_file_step(root_path))
