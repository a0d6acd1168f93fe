"""Write the NYSE session file ``models/xnys_sessions.txt`` from
exchange-calendars, or check it.

Usage: ``python scripts/export_calendar.py [--output PATH] [--check]``;
``make calendar`` runs it without options. Rewrite the file after upgrading
exchange-calendars, since a new release can add closures.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# run from a checkout, the script imports the package from it, installed or not
sys.path.insert(0, str(ROOT))
from models.calendar import (  # noqa: E402
    CALENDAR_END,
    CALENDAR_START,
    SESSIONS_FILE,
    exchange_calendar_sessions,
    format_sessions,
)
from scripts.generated_file import write_or_check  # noqa: E402

DEFAULT_OUTPUT = ROOT / "models" / SESSIONS_FILE


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], allow_abbrev=False
    )
    parser.add_argument(
        "--output", type=Path, default=DEFAULT_OUTPUT, help="file to write"
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 when the file differs from exchange-calendars",
    )
    args = parser.parse_args(argv)

    text = format_sessions(exchange_calendar_sessions(CALENDAR_START, CALENDAR_END))
    return write_or_check(args.output, text, check=args.check, make_target="calendar")


if __name__ == "__main__":
    sys.exit(main())
