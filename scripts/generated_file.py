"""Write a generated file of the repository, or check that it is current."""

from __future__ import annotations

import sys
from pathlib import Path


def write_or_check(output: Path, text: str, *, check: bool, make_target: str) -> int:
    """Write ``text`` to ``output``, or with ``check`` compare them instead.

    Returns the exit status: 1 when ``check`` finds ``output`` out of date,
    whose message names the ``make`` target that rewrites it, else 0.
    """
    if check:
        stored = output.read_text() if output.is_file() else ""
        if stored != text:
            print(f"{output} is out of date; run `make {make_target}`", file=sys.stderr)
            return 1
        print(f"{output} is up to date")
        return 0

    output.write_text(text)
    print(f"wrote {output}")
    return 0
