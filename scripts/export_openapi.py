"""Write the service's OpenAPI document to ``openapi.json``, or check it.

Usage: ``python scripts/export_openapi.py [--output PATH] [--check]``;
``make openapi`` runs it without options.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = ROOT / "openapi.json"

# run from a checkout, the script imports the service from it, installed or not
sys.path.insert(0, str(ROOT))
from scripts.generated_file import write_or_check  # noqa: E402
from service.openapi import current_openapi_text  # noqa: E402


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
        help="write nothing; exit 1 when the file differs from the app's document",
    )
    args = parser.parse_args(argv)

    text = current_openapi_text()
    return write_or_check(args.output, text, check=args.check, make_target="openapi")


if __name__ == "__main__":
    sys.exit(main())
