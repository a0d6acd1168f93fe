"""Removal of the files that an interrupted upload or delete left in the
upload folder.

An upload writes its CSV, then its description (``<id>.json``), each under
a temporary name (``.<name>.<hex>.tmp``) renamed into place. A process
that stops between those steps leaves a CSV without a description, or a
temporary file. A read that checks an upload stored with earlier checks
while the upload is deleted can leave the outcome (``<id>.checked.json``)
without a description. Readers treat a series as stored only once its description
exists (``series_store.series_exists``), so no reader lists or loads these
files. The API removes them when it starts, and those too young to remove
then once they are old enough.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path

from models.plurals import plural
from service.series_store import CHECKED_SUFFIX, SERIES_ID_RE, series_dir
from service.settings import Settings

logger = logging.getLogger(__name__)

# An orphan must be at least this old, in seconds, before it is removed.
# Another process that shares the folder may be between the two renames of
# an upload, which takes milliseconds.
ORPHAN_MIN_AGE_SECONDS = 60.0


def orphan_files(folder: Path, now: float, min_age: float) -> list[Path]:
    """Return the CSVs and check outcomes without a description and the
    temporary files in
    ``folder`` whose modification time is at least ``min_age`` seconds
    before ``now`` (Unix seconds), sorted by name."""
    if not folder.is_dir():
        return []
    # a folder or other entry under such a name is no upload's file, so it
    # is left alone
    candidates = [
        path
        for path in folder.iterdir()
        if (_is_temporary(path) or _lacks_description(path)) and path.is_file()
    ]
    old = []
    for path in sorted(candidates):
        try:
            if now - path.stat().st_mtime >= min_age:
                old.append(path)
        except FileNotFoundError:
            continue  # removed by another process meanwhile
    return old


def sweep_orphans(
    settings: Settings, min_age: float = ORPHAN_MIN_AGE_SECONDS
) -> list[str]:
    """Remove the orphans of interrupted uploads and deletes from the
    upload folder (see ``orphan_files``), log one line when there were any,
    and return the removed file names.

    An orphan that cannot be removed, such as one in a read-only folder,
    gets a warning line with the error and stays, and the API starts."""
    folder = series_dir(settings)
    removed = []
    for path in orphan_files(folder, time.time(), min_age):
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            logger.warning(
                "failed to remove %s of an interrupted upload: %s; remove it by hand",
                path,
                exc.strerror or exc,
            )
            continue
        removed.append(path.name)
    if removed:
        logger.warning(
            "removed %s of interrupted uploads from %s: %s",
            plural(len(removed), "file"),
            folder,
            removed,
        )
    return removed


def next_sweep_delay(
    settings: Settings, min_age: float = ORPHAN_MIN_AGE_SECONDS
) -> float | None:
    """Return the seconds after which the youngest orphan in the upload
    folder is ``min_age`` old, so that a sweep then removes every orphan
    there now; None when there is none."""
    now = time.time()
    ages = []
    for path in orphan_files(series_dir(settings), now, -math.inf):
        try:
            ages.append(now - path.stat().st_mtime)
        except FileNotFoundError:
            continue  # removed by another process meanwhile
    if not ages:
        return None
    return max(0.0, min_age - min(ages))


def _is_temporary(path: Path) -> bool:
    return path.name.startswith(".") and path.name.endswith(".tmp")


def _lacks_description(path: Path) -> bool:
    """True for an upload's CSV or the outcome of its checks
    (``<id>.checked.json``), named by its series id, without its
    description. A file under another name was not written by an upload, so
    it is kept."""
    if path.name.endswith(CHECKED_SUFFIX):
        series_id = path.name.removesuffix(CHECKED_SUFFIX)
    elif path.suffix == ".csv":
        series_id = path.stem
    else:
        return False
    return (
        SERIES_ID_RE.fullmatch(series_id) is not None
        and not path.with_name(f"{series_id}.json").exists()
    )
