"""How to load Yahoo Finance bars that the user saved as a CSV file.

The fixes of errors and notes about downloaded bars end with this step,
because the user can correct or complete a saved file but not Yahoo's data.
A file is loaded with ``csv:PATH`` on the command line and uploaded with
``POST /v1/series`` over HTTP, under the service's root path
(``RNN_FORECAST_ROOT_PATH``, such as ``/rnn``).
"""

from __future__ import annotations


def saved_file_step(root_path: str = "") -> str:
    """Return "load that file (...)", naming the upload path under
    ``root_path``, the service's root path (empty on the command line)."""
    return (
        "load that file (csv:PATH on the command line, "
        f"POST {root_path}/v1/series over HTTP)"
    )
