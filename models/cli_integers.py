"""Integer option values of the command line.

Python's ``int()`` reads more than decimal digits: underscores between
digits (``"1_0"`` is 10), a leading ``+``, spaces around the number and
the digits of other scripts, such as the Arabic-Indic ``"١٠"``. An option
that used it as its argparse type would take ``--epochs 1_0`` as 10 epochs.
``integer`` reads an optional ``-`` and the ASCII digits 0-9 only. The
minus sign stays, so that a negative value gets its option's range error,
such as the one of ``--patience -1``.
"""

from __future__ import annotations

import argparse
import re
import sys

from models.quoted_ids import quoted

INTEGER_RE = re.compile(r"-?[0-9]+")


def integer(text: str) -> int:
    """Parse the integer option value ``text``: an optional ``-`` and the
    digits 0-9.

    Raises ``argparse.ArgumentTypeError``, which argparse prints after the
    option's name, for any other text. Its message gives the number written
    plainly when ``int()`` reads one from ``text``, such as 10 for ``1_0``.
    """
    if INTEGER_RE.fullmatch(text) is None:
        raise argparse.ArgumentTypeError(
            f"{quoted(text)} is not an integer written with the digits 0-9 "
            f"only{_plain_fix(text)}"
        )
    digits = len(text.removeprefix("-"))
    limit = sys.get_int_max_str_digits()
    if limit and digits > limit:
        # int() raises ValueError above this many digits (4300 by default)
        raise argparse.ArgumentTypeError(
            f"{quoted(text)} has {digits} digits, more than the {limit} that "
            "Python converts to an integer; give a smaller number"
        )
    return int(text)


def _plain_fix(text: str) -> str:
    """Return ``; write it as 10`` and the like for text that ``int()``
    reads, such as ``1_0`` or ``+10``, or "" for other text."""
    try:
        value = int(text)
    except ValueError:
        return ""
    return f"; write it as {value}"
