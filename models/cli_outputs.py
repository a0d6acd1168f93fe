"""Checks that the folders a command writes into accept a file, run before
the command computes anything.

Each error names the option or variable that sets the folder and gives the
fix, so that the command line can print it as its one ``error:`` line.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

REGISTRY_SOURCE = "--registry or RNN_FORECAST_REGISTRY"


def check_writable(label: str, folder: Path) -> None:
    """Create and delete a temporary file in ``folder``.

    ``os.access`` grants root every folder, even read-only mounts and
    ``/proc``, so only a real write shows whether the command can write
    there. ``label`` names the value that chose the folder, such as
    ``--png plots/flow.png``. Raises ``ValueError`` naming it when the
    write fails.
    """
    try:
        with tempfile.NamedTemporaryFile(dir=folder):
            pass
    except OSError as exc:
        reason = exc.strerror or str(exc)
        if isinstance(exc, FileNotFoundError) and folder.is_dir():
            # /proc returns ENOENT for a new file although the folder exists,
            # and "No such file or directory" would read as a missing folder
            reason = "the folder exists but does not accept new files"
        raise ValueError(
            f"{label}: cannot write to the folder {folder} ({reason}); choose a "
            "writable location"
        ) from None


def check_output_folder(label: str, folder: Path) -> None:
    """Check that the existing folder ``folder`` accepts a new file, without
    creating it, so that a command that fails later leaves no new folder.

    Raises ``ValueError`` naming ``label`` when ``folder`` is missing, is a
    file or is not writable.
    """
    if not folder.exists():
        raise ValueError(
            f"{label}: the folder {folder} does not exist; create it first or "
            "choose an existing folder"
        )
    if not folder.is_dir():
        raise ValueError(
            f"{label}: {folder} is a file, not a folder; choose a path in a folder"
        )
    check_writable(label, folder)


def check_registry_folder(root: Path) -> None:
    """Raise ``ValueError`` naming ``--registry`` and
    ``RNN_FORECAST_REGISTRY`` when ``root`` exists but is not a folder, or
    when it cannot be looked up, as a name too long for the file system. A
    registry that reads such a path finds no models, and commands would
    report an empty registry or a missing model instead of the wrong path."""
    label = f"registry {root} (set by {REGISTRY_SOURCE})"
    try:
        is_file = root.exists() and not root.is_dir()
    except OSError as exc:
        # such as a name longer than the file system allows
        raise ValueError(
            f"{label}: {exc.strerror or exc}; choose another location"
        ) from exc
    if is_file:
        raise ValueError(
            f"{label}: {root} is a file, not a folder; choose another location"
        )


def check_registry(root: Path) -> None:
    """Check, before a command trains, that a version can be written to the
    registry folder ``root``, without creating it.

    A missing ``root`` is checked through its nearest existing parent,
    where the registry write would create it, so a failed command leaves
    no empty registry behind. Raises ``ValueError`` naming
    ``--registry`` and ``RNN_FORECAST_REGISTRY``.
    """
    label = f"registry {root} (set by {REGISTRY_SOURCE})"
    existing = next(folder for folder in (root, *root.parents) if folder.exists())
    if not existing.is_dir():
        raise ValueError(
            f"{label}: {existing} is a file, not a folder; choose another location"
        )
    check_writable(label, existing)
