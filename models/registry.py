"""Versioned, immutable checkpoints on disk; the only writer under its root.

Layout under the root folder::

    <name>/versions/<N>/weights.safetensors   tensors, safetensors format
    <name>/versions/<N>/metadata.json         spec, scaler, data, metrics, ...
    <name>/aliases.json                       {"production": 3, ...}
    <name>/highest_version                    highest number ever written
    <name>/.lock                              flock for version numbers

A version is written into a temporary folder and renamed into place while the
name's lock is held, so readers see either no version N or a complete one, and
two writers finishing at once get distinct numbers. A new version gets a
number above both the highest existing version and the number in
``highest_version``. So a version folder that was deleted or moved away does
not get its number reused, unless ``highest_version`` is deleted too. A
``highest_version`` that cannot be read or does not contain a number makes
``write`` raise instead of guessing a number.
``latest`` is an implicit alias of the highest version and does not read
``aliases.json``. Nothing is ever loaded with pickle.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from models.data.scaling import Scaler
from models.errors import (
    CheckpointError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
)
from models.names import NAME_RE, invalid_name_message
from models.nn.forecaster import Forecaster
from models.quoted_ids import quoted
from models.registry_json import parse_registry_json
from models.stored_metadata import FORMAT_VERSION, WEIGHTS_FILE, metadata_problem
from models.version_checks import (
    FORECAST,
    VersionUse,
    check_scaler,
    check_weights,
)
from models.version_refs import (
    ALIAS_RE,
    MAX_VERSION,
    check_version_ref,
    lowercase_hint,
    version_number,
)

logger = logging.getLogger(__name__)

METADATA_FILE = "metadata.json"
LATEST = "latest"
STALE_TMP_SECONDS = 3600
# weights files whose hash ``Registry.unreadable`` keeps; beyond it the
# results are dropped and files are hashed again
MAX_HASHED_FILES = 4096
# A file changed this recently may change again within the same timestamp
# tick, keeping its stamp, so its hash is not kept.
RACY_SECONDS = 2.0
# the name of a version folder: a number from 1 to MAX_VERSION without leading
# zeros, in ASCII digits. Other folders, such as a copy named 01 or one named
# with a superscript digit, are not versions.
VERSION_FOLDER_RE = re.compile(rf"[1-9][0-9]{{0,{len(str(MAX_VERSION)) - 1}}}")


def check_name(name: str) -> str:
    """Return ``name`` if it is a valid model name, else raise (so no name can
    leave the registry root: no slashes, dots or absolute paths)."""
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise InvalidInputError(
            f"model name {invalid_name_message(name)}", field="name"
        )
    return name


ALIASES_FILE = "aliases.json"
HIGHEST_FILE = "highest_version"


def check_alias(alias: str, field: str = "alias") -> str:
    """Return ``alias`` if valid: a lowercase word that is not a number.
    ``field`` is the request field named in the error."""
    if not isinstance(alias, str) or not ALIAS_RE.fullmatch(alias):
        raise InvalidInputError(
            f"alias {quoted(alias)} is invalid{lowercase_hint(alias)}; use 1-64 "
            "characters of a-z, 0-9, '_' and '-', starting with a letter",
            field=field,
        )
    return alias


def check_settable_alias(alias: str, *, deleting: bool = False) -> str:
    """Return ``alias`` if a client may set it, or delete it when
    ``deleting``. It must be valid and not ``latest``, which always means
    the highest version."""
    check_alias(alias)
    if alias == LATEST and deleting:
        raise InvalidInputError(
            "alias 'latest' always means the highest version and cannot be "
            "deleted; delete only aliases that were set",
            field="alias",
        )
    if alias == LATEST:
        raise InvalidInputError(
            "alias 'latest' always means the highest version and cannot be "
            "set; choose another alias name",
            field="alias",
        )
    return alias


@dataclass(frozen=True)
class LoadedModel:
    """A version ready to forecast: the network in eval mode and its context.

    ``tail_dates`` (R,) and ``tail_close`` (R,) are the last R rows of the
    training series, enough for one forecast without client history.
    ``checkpoint`` is the sha256 of the ``metadata.json`` it was loaded from.
    That file contains the sha256 of the weights, the scaler, the spec and the
    creation time, so the id distinguishes two checkpoints stored under one
    version number, such as a version folder that was deleted and written
    again.
    """

    name: str
    version: int
    model: Forecaster
    scaler: Scaler
    target: str
    lookback: int
    horizon: int
    tail_dates: tuple[str, ...]
    tail_close: np.ndarray
    metadata: dict[str, Any]
    checkpoint: str


class Registry:
    """Checkpoint store rooted at one folder.

    A registry opened for a job (``job_id``) writes that id into the
    metadata of every version it writes, so the version a job wrote can be
    found after its worker is gone (``version_of_job``).
    """

    def __init__(
        self, root: str | os.PathLike[str], *, job_id: str | None = None
    ) -> None:
        self.root = Path(root).expanduser().resolve()
        self.job_id = job_id
        # weights files already hashed: path -> (file stamp, sha256 matched)
        self._hashed: dict[Path, tuple[tuple[int, int, int], bool]] = {}

    # ---- reading -----------------------------------------------------------

    def names(self) -> list[str]:
        """Model names with at least one complete version, sorted."""
        if not self.root.is_dir():
            return []
        return sorted(
            p.name
            for p in self.root.iterdir()
            if NAME_RE.fullmatch(p.name) and self.versions(p.name)
        )

    def versions(self, name: str) -> list[int]:
        """Complete version numbers of ``name``, ascending."""
        folder = self.root / check_name(name) / "versions"
        if not folder.is_dir():
            return []
        found = [
            int(p.name)
            for p in folder.iterdir()
            if VERSION_FOLDER_RE.fullmatch(p.name) and (p / METADATA_FILE).is_file()
        ]
        return sorted(found)

    def version_of_job(self, name: str, job_id: str) -> int | None:
        """Return the version of ``name`` whose metadata names ``job_id`` as
        the job that wrote it, or None when no version does.

        Reads every version's metadata, newest first, so it suits rare
        checks such as the recovery of a job whose worker stopped. Only files
        that contain ``job_id`` as ``write`` encodes it are parsed, because a
        parse costs about 20 times the read (2 ms against 0.1 ms for 30 KB of
        metadata with 300 epochs of history, on a shared 2-core VM).
        """
        encoded = json.dumps(job_id).encode()
        for version in reversed(self.versions(name)):
            path = self.root / name / "versions" / str(version) / METADATA_FILE
            try:
                raw = path.read_bytes()
                if encoded not in raw:
                    continue
                meta = parse_registry_json(raw)
            except (OSError, ValueError):
                continue
            if isinstance(meta, dict) and meta.get("job_id") == job_id:
                return version
        return None

    def aliases(self, name: str) -> dict[str, int]:
        """Explicit aliases of ``name`` plus ``latest``."""
        versions = self.versions(name)
        if not versions:
            raise NotFoundError(f"model {name!r} not found", field="name")
        return {**_stored_aliases(self.root, name), LATEST: versions[-1]}

    def dangling_aliases(self, name: str) -> list[str]:
        """Return the aliases of ``name`` whose version no longer exists,
        sorted; none when the alias file cannot be read, which
        ``unreadable`` reports instead."""
        versions = self.versions(name)
        try:
            stored = _stored_aliases(self.root, name)
        except CheckpointError:
            return []
        return dangling(stored, versions)

    def resolve(self, name: str, ref: str | int) -> int:
        """Return the version number that ``ref`` (a number or alias) means."""
        versions = self.versions(name)
        if not versions:
            raise NotFoundError(f"model {name!r} not found", field="name")

        number = version_number(check_version_ref(ref))
        if number is not None:
            if number not in versions:
                raise NotFoundError(
                    f"model {name!r} has no version {number}; versions are {versions}",
                    field="version",
                )
            return number

        text = str(ref)
        if text == LATEST:
            return versions[-1]
        aliases = self.aliases(name)
        if text not in aliases:
            raise NotFoundError(
                f"model {name!r} has no alias {text!r}; aliases are {sorted(aliases)}",
                field="version",
            )
        version = aliases[text]
        if version not in versions:
            raise NotFoundError(
                f"alias {text!r} of model {name!r} points at version {version}, "
                f"which does not exist; versions are {versions}. Point the alias "
                "at an existing version or delete it",
                field="version",
            )
        return version

    def metadata(self, name: str, version: int) -> dict[str, Any]:
        """The parsed ``metadata.json`` of one version."""
        return self._read_metadata(name, version)[0]

    def _read_metadata(self, name: str, version: int) -> tuple[dict[str, Any], str]:
        """Return one version's parsed metadata and the sha256 of the file
        (64 hex digits), the ``checkpoint`` of a ``LoadedModel``."""
        label = f"{name}:{version}"
        path = self._version_dir(name, version) / METADATA_FILE
        try:
            raw = path.read_bytes()
        except FileNotFoundError as exc:
            raise NotFoundError(
                f"model {name!r} has no version {version}", field="version"
            ) from exc
        except OSError as exc:
            # strerror only, because str(exc) contains the absolute path
            raise CheckpointError(
                f"metadata of {label} cannot be read ({exc.strerror}); check "
                f"the permissions of {_metadata_file(name, version)} in the "
                "registry, or delete its version folder"
            ) from exc
        try:
            meta = parse_registry_json(raw)
        except ValueError as exc:
            raise CheckpointError(
                f"metadata of {label} is corrupt ({exc}); "
                f"{_metadata_fix(name, version)}"
            ) from exc
        if not isinstance(meta, dict):
            raise CheckpointError(
                f"metadata of {label} is a JSON {type(meta).__name__}, "
                f"not an object; {_metadata_fix(name, version)}"
            )
        problem = metadata_problem(meta) or _folder_mismatch(meta, name, version)
        if problem is not None:
            raise CheckpointError(
                f"metadata of {label} is invalid ({problem}); "
                f"{_metadata_fix(name, version)}"
            )
        return meta, hashlib.sha256(raw).hexdigest()

    def unreadable(self, name: str) -> str | None:
        """Return why the latest version's metadata or weights, the alias
        file or the ``highest_version`` file of ``name`` cannot be read or
        are invalid, or None when all can be used. Reasons are joined by
        "; ".

        The weights are hashed against the metadata's sha256 once per file:
        a later call stats the file and hashes it again only when its
        inode, modification time or size changed, or when it changed less
        than ``RACY_SECONDS`` ago."""
        versions = self.versions(name)
        checks: list[Callable[[], object]] = [
            lambda: _stored_aliases(self.root, name),
            lambda: _highest_written(self.root / name),
        ]
        if versions:
            checks.insert(0, lambda: self._check_weights_hash(name, versions[-1]))
        reasons = []
        for check in checks:
            try:
                check()
            except CheckpointError as exc:
                reasons.append(exc.message)
        return "; ".join(reasons) or None

    def _check_weights_hash(self, name: str, version: int) -> None:
        """Read the metadata of ``name:version`` and raise ``CheckpointError``
        when its weights file cannot be read or does not match the sha256
        that the metadata gives."""
        meta = self.metadata(name, version)
        label = f"{name}:{version}"
        path = self._version_dir(name, version) / WEIGHTS_FILE
        try:
            info = path.stat()
        except FileNotFoundError as exc:
            raise CheckpointError(
                f"weights file of {label} is missing; retrain this version"
            ) from exc
        except OSError as exc:
            raise _unreadable_weights(label, exc) from exc
        stamp = (info.st_ino, info.st_mtime_ns, info.st_size)
        known = self._hashed.get(path)
        if known is not None and known[0] == stamp:
            matched = known[1]
        else:
            try:
                raw = _read_bytes(path, label)
            except OSError as exc:
                raise _unreadable_weights(label, exc) from exc
            matched = hashlib.sha256(raw).hexdigest() == meta["weights"]["sha256"]
            if len(self._hashed) >= MAX_HASHED_FILES:
                self._hashed.clear()
            if time.time() - info.st_mtime > RACY_SECONDS:
                self._hashed[path] = (stamp, matched)
        if not matched:
            raise CheckpointError(
                f"weights of {label} do not match the sha256 in its metadata; "
                "the file is corrupt, retrain this version"
            )

    def load(
        self, name: str, ref: str | int = LATEST, use: VersionUse = FORECAST
    ) -> LoadedModel:
        """Load one version; raise ``CheckpointError`` if it is corrupt or its
        weights do not fit its metadata, and ``InvalidInputError`` if its
        scaler or weights are not finite. That error names ``use``, what the
        caller loads the version for."""
        version = self.resolve(name, ref)
        meta, checkpoint = self._read_metadata(name, version)
        folder = self._version_dir(name, version)
        label = f"{name}:{version}"
        check_scaler(meta, label, use)

        try:
            model = Forecaster.from_config(meta["model"])
            expected_sha = meta["weights"]["sha256"]
            scaler = Scaler.from_dict(meta["scaler"])
            spec = meta["spec"]
            tail = meta["tail"]
        except (KeyError, TypeError, ValueError) as exc:
            # values that fit the schema but not Forecaster or Scaler
            raise CheckpointError(
                f"metadata of {label} is invalid ({exc}); "
                f"{_metadata_fix(name, version)}"
            ) from exc

        weights_path = folder / WEIGHTS_FILE
        raw = _read_bytes(weights_path, label)
        if hashlib.sha256(raw).hexdigest() != expected_sha:
            raise CheckpointError(
                f"weights of {label} do not match the sha256 in its metadata; "
                "the file is corrupt, retrain this version"
            )
        _load_state(model, weights_path, label)
        check_weights(model.state_dict(), label, use)
        model.eval()

        return LoadedModel(
            name=name,
            version=version,
            model=model,
            scaler=scaler,
            target=spec["target"],
            lookback=spec["lookback"],
            horizon=spec["horizon"],
            tail_dates=tuple(tail["dates"]),
            tail_close=np.asarray(tail["close"], dtype=np.float64),
            metadata=meta,
            checkpoint=checkpoint,
        )

    # ---- writing -----------------------------------------------------------

    def check_writable(self, name: str) -> None:
        """Raise the ``CheckpointError`` that ``write`` would raise for the
        ``highest_version`` file of ``name``, so a caller can fail before a
        long training run instead of after it."""
        _highest_written(self.root / check_name(name))

    def check_alias_file(self, name: str) -> None:
        """Raise the ``CheckpointError`` that ``set_alias`` would raise for
        the alias file of ``name``, so a caller that sets aliases after a
        write can fail before a long training run instead of after it."""
        _stored_aliases(self.root, check_name(name))

    def write(
        self, name: str, state: dict[str, torch.Tensor], metadata: dict[str, Any]
    ) -> int:
        """Store a new immutable version of ``name`` and return its number."""
        base = self.root / check_name(name)
        (base / "versions").mkdir(parents=True, exist_ok=True)
        self._remove_stale_tmp(base)

        # A job id copied from another version's metadata does not name
        # the job of this write, so it is dropped.
        written = {k: v for k, v in metadata.items() if k != "job_id"}
        if self.job_id is not None:
            written["job_id"] = self.job_id

        tmp = base / f".tmp-{uuid.uuid4().hex}"
        tmp.mkdir()
        try:
            weights = tmp / WEIGHTS_FILE
            save_file({k: v.contiguous() for k, v in state.items()}, str(weights))
            # safetensors creates the file readable by its owner only, so it
            # gets the mode that metadata.json gets under the umask
            weights.chmod(tmp.stat().st_mode & 0o666)
            _fsync_file(weights)
            sha = hashlib.sha256(weights.read_bytes()).hexdigest()

            with self._lock(base):
                version = max(self.versions(name) + [_highest_written(base)]) + 1
                if version > MAX_VERSION:
                    raise ConflictError(
                        f"model {name!r} has used every version number up to "
                        f"{MAX_VERSION}; save under another name"
                    )
                meta = {
                    **written,
                    "format": FORMAT_VERSION,
                    "name": name,
                    "version": version,
                    "weights": {"file": WEIGHTS_FILE, "sha256": sha},
                }
                _write_json(tmp / METADATA_FILE, meta)
                os.rename(tmp, base / "versions" / str(version))
                _fsync_dir(base / "versions")
                _record_highest(base, version)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

        logger.info("wrote %s version %d under %s", name, version, self.root)
        return version

    def set_alias(
        self,
        name: str,
        alias: str,
        version: int,
        check: Callable[[int | None], None] | None = None,
    ) -> dict[str, int]:
        """Point ``alias`` of ``name`` at an existing ``version``, and return
        the aliases of ``name`` right after this change, ``latest`` included.

        ``check``, when given, is called with the version that the alias
        points at now (None for a new alias) while the name's lock is held.
        An exception it raises leaves the alias unchanged. The returned
        aliases are read under that lock, so another writer's change that
        lands after this one is not reported as this one's result.
        """
        check_settable_alias(alias)
        versions = self.versions(name)
        if version not in versions:
            raise NotFoundError(
                f"model {name!r} has no version {version}; versions are {versions}",
                field="version",
            )
        try:
            self.metadata(name, version)
        except CheckpointError as exc:
            raise ConflictError(
                f"alias {alias!r} cannot point at {name}:{version} because its "
                f"metadata cannot be read: {exc.message}",
                field="version",
            ) from exc

        base = self.root / name
        with self._lock(base):
            stored = _stored_aliases(self.root, name)
            if check is not None:
                check(stored.get(alias))
            stored[alias] = int(version)
            _write_json(base / ALIASES_FILE, stored, atomic=True)
            return self._with_latest(name, stored)

    def delete_alias(
        self,
        name: str,
        alias: str,
        check: Callable[[int | None], None] | None = None,
    ) -> tuple[int, dict[str, int]]:
        """Remove ``alias`` of ``name``. Return the version it pointed at and
        the aliases of ``name`` right after the removal, read under the
        lock as in ``set_alias``.

        ``check`` is called as in ``set_alias``, before the alias is removed.
        Raises ``NotFoundError`` when the alias does not exist, before
        ``check`` runs: a request that would get 404 without preconditions
        gets 404 with them too (RFC 9110 section 13.2.1).
        """
        check_settable_alias(alias, deleting=True)
        if not self.versions(name):
            raise NotFoundError(f"model {name!r} not found", field="name")

        base = self.root / name
        with self._lock(base):
            stored = _stored_aliases(self.root, name)
            if alias not in stored:
                raise NotFoundError(
                    f"model {name!r} has no alias {alias!r}; the aliases that "
                    f"can be deleted are {sorted(stored)}",
                    field="alias",
                )
            if check is not None:
                check(stored[alias])
            version = int(stored.pop(alias))
            _write_json(base / ALIASES_FILE, stored, atomic=True)
            return version, self._with_latest(name, stored)

    # ---- helpers -----------------------------------------------------------

    def _with_latest(self, name: str, stored: dict[str, int]) -> dict[str, int]:
        """Return the explicit aliases ``stored`` plus ``latest``, the
        highest version of ``name``. Callers hold the name's lock, which
        every version write takes too, so ``latest`` cannot move meanwhile."""
        versions = self.versions(name)
        if not versions:
            raise NotFoundError(f"model {name!r} not found", field="name")
        return {**stored, LATEST: versions[-1]}

    def _version_dir(self, name: str, version: int) -> Path:
        return self.root / check_name(name) / "versions" / str(int(version))

    @contextlib.contextmanager
    def _lock(self, base: Path) -> Iterator[None]:
        with open(base / ".lock", "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    @staticmethod
    def _remove_stale_tmp(base: Path) -> None:
        # a writer killed mid-write leaves a .tmp-* folder that no reader sees
        cutoff = time.time() - STALE_TMP_SECONDS
        for path in base.glob(".tmp-*"):
            with contextlib.suppress(OSError):
                if path.stat().st_mtime < cutoff:
                    shutil.rmtree(path, ignore_errors=True)


def _folder_mismatch(meta: dict[str, Any], name: str, version: int) -> str | None:
    """Return why ``meta`` does not belong in the folder of ``name:version``,
    such as a version folder copied from another model, or None."""
    if meta["name"] == name and meta["version"] == version:
        return None
    return (
        f"it belongs to version {meta['version']} of model {quoted(meta['name'])}, "
        "so the folder was copied or moved from there"
    )


def _metadata_file(name: str, version: int) -> str:
    """Return the path of a version's metadata file relative to the root."""
    return f"{name}/versions/{version}/{METADATA_FILE}"


def _metadata_fix(name: str, version: int) -> str:
    """Return the fix for a version whose metadata is corrupt or invalid."""
    return f"retrain this version, or delete {name}/versions/{version} in the registry"


def _unreadable_weights(label: str, exc: OSError) -> CheckpointError:
    return CheckpointError(
        f"weights file of {label} cannot be read ({exc.strerror or exc}); "
        "check its permissions, or retrain this version"
    )


def _read_bytes(path: Path, label: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError as exc:
        raise CheckpointError(
            f"weights file of {label} is missing; retrain this version"
        ) from exc


def _load_state(model: Forecaster, path: Path, label: str) -> None:
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError) as exc:
        raise CheckpointError(
            f"weights of {label} cannot be read ({exc}); retrain this version"
        ) from exc

    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    actual = {k: tuple(v.shape) for k, v in state.items()}
    if expected != actual:
        raise CheckpointError(
            f"weights of {label} do not fit its metadata: expected tensors "
            f"{expected}, found {actual}; retrain this version"
        )
    model.load_state_dict(state)


def dangling(aliases: dict[str, int], versions: list[int]) -> list[str]:
    """Return the names in ``aliases`` (alias to version number) whose
    version is not in ``versions``, sorted."""
    return sorted(alias for alias, number in aliases.items() if number not in versions)


def _stored_aliases(root: Path, name: str) -> dict[str, int]:
    """Return the explicit aliases in the alias file of ``name``, or none.

    Raises ``CheckpointError`` when the file is not a JSON object of valid
    alias names to version numbers. The message names the file relative to
    the registry root.
    """
    path = root / name / ALIASES_FILE
    label = f"{name}/{ALIASES_FILE}"
    try:
        stored = parse_registry_json(path.read_bytes())
    except FileNotFoundError:
        return {}
    except OSError as exc:
        # a folder in the file's place fails here too (IsADirectoryError)
        # strerror only, because str(exc) contains the absolute path
        raise CheckpointError(
            f"alias file {label} in the registry cannot be read "
            f"({exc.strerror}); check its permissions, or delete it"
        ) from exc
    except ValueError as exc:
        raise CheckpointError(f"{_invalid_alias_file(label)} ({exc})") from exc
    if not isinstance(stored, dict) or not all(
        isinstance(alias, str)
        and ALIAS_RE.fullmatch(alias)
        and alias != LATEST
        and type(version) is int
        and version >= 1
        for alias, version in stored.items()
    ):
        raise CheckpointError(_invalid_alias_file(label))
    return stored


def _invalid_alias_file(label: str) -> str:
    return (
        f"alias file {label} in the registry is invalid: it must be a JSON "
        'object of alias names to version numbers, such as {"production": 3}. '
        "Fix or delete the file; 'latest' and version numbers work without it"
    )


def _highest_written(base: Path) -> int:
    """Return the number in ``base``'s ``highest_version`` file, or 0 when
    the file is missing.

    Raises ``CheckpointError`` naming the file relative to the registry root
    when it cannot be read or does not contain a version number, because a
    new version could then get the number of a deleted one.
    """
    path = base / HIGHEST_FILE
    label = f"{base.name}/{HIGHEST_FILE}"
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        return 0
    except IsADirectoryError:
        raise CheckpointError(
            f"{label} in the registry is a folder, not a file; "
            "remove that folder, and the next version writes the file again"
        ) from None
    except NotADirectoryError as exc:
        if base.exists() and not base.is_dir():
            raise CheckpointError(
                f"{base.name} in the registry is a file, not a model folder; move "
                "or remove the file, or choose another model name"
            ) from None
        raise _unreadable_highest(label, exc) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise _unreadable_highest(label, exc) from exc
    # A number longer than MAX_VERSION is invalid. Checking the length first
    # also avoids the ValueError of int() for thousands of digits.
    digits = text.lstrip("0")
    if not (text.isascii() and text.isdigit()) or len(digits) > len(str(MAX_VERSION)):
        raise CheckpointError(
            f"file {label} in the registry is invalid: {quoted(text)} is not a "
            "version number. Write to it the highest version number this model "
            "ever had"
        )
    return int(text)


def _unreadable_highest(
    label: str, exc: OSError | UnicodeDecodeError
) -> CheckpointError:
    """Return the error for the ``highest_version`` file ``label`` that
    failed to read with ``exc``."""
    reason = getattr(exc, "strerror", None) or str(exc)
    return CheckpointError(
        f"file {label} in the registry cannot be read ({reason}); make it "
        "a readable file that contains the highest version number this "
        "model ever had"
    )


def _record_highest(base: Path, version: int) -> None:
    """Write ``version`` to ``base``'s ``highest_version`` file. A failed
    write is logged and not raised, because the version is already in place
    and only a later write after a deletion could reuse its number."""
    try:
        _write_text(base / HIGHEST_FILE, f"{version}\n", atomic=True)
    except OSError as exc:
        logger.warning(
            "version %s:%d is written, but %s could not be updated: %s",
            base.name,
            version,
            HIGHEST_FILE,
            exc,
        )


def _write_text(path: Path, text: str, *, atomic: bool = False) -> None:
    """Write ``text`` to ``path`` and flush it to disk; with ``atomic``, write
    a sibling file and rename it over ``path``."""
    target = path.with_name(path.name + ".tmp") if atomic else path
    with open(target, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    if atomic:
        os.replace(target, path)


def _write_json(path: Path, data: dict[str, Any], *, atomic: bool = False) -> None:
    text = json.dumps(data, indent=2, sort_keys=True, allow_nan=False)
    _write_text(path, text, atomic=atomic)


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
