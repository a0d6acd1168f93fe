"""Version resolution for the request path, cached per model name.

``Registry.resolve`` lists the version folders and reads ``aliases.json`` on
every call. ``VersionResolver`` keeps the result per name and checks that it
is current by the modification time and inode of two paths,
``<name>/versions`` (a new or removed version changes it) and
``<name>/aliases.json`` (replaced atomically on every alias change). A
resolved version's ``metadata.json`` is stat'ed too, because removing it
does not change ``versions``; ``latest`` then moves to the highest version
that still has one. Those three ``stat`` calls are the only file access of
a request that hits the cache, and a positive ``ttl_seconds`` skips the
first two for that long. The third gives the model cache the stamp it
checks a cached version by (``resolve_stamped``), so the cache does not
stat the file again.

Staleness bound: with ``ttl_seconds = 0`` a change is seen by the first
request after it. With a positive TTL, an alias switch or a new ``latest``
is seen at most ``ttl_seconds`` later. A version requested by number that the
cache does not know is always looked up on disk, so a new version is
servable at once, and errors come from ``Registry.resolve`` with its
messages. So does an alias that points at a missing version. While
``aliases.json`` cannot be read, every alias but ``latest`` goes to the
registry too, and ``latest`` and version numbers still resolve because they
do not depend on that file.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from models.errors import CheckpointError
from models.registry import LATEST, Registry, check_name
from models.version_refs import version_number
from service.metadata_paths import MISSING, MetadataPaths, Stamp, metadata_stamp

# A folder changed within this many seconds of being read may change again
# within the same timestamp tick (coarse file system clocks), so its contents
# are read again instead of trusting an unchanged timestamp.
RACY_SECONDS = 2.0

Signature = tuple[tuple[int, int] | None, tuple[int, int, int] | None]


# names whose paths are kept; unknown names sent by clients cannot grow it
# beyond this
MAX_CACHED_PATHS = 1024


@dataclass(frozen=True)
class _Entry:
    """Cached versions and aliases of one name, with the check time and the
    file signature they were read under."""

    versions: frozenset[int]
    aliases: dict[str, int]
    signature: Signature
    checked_at: float
    racy: bool


class VersionResolver:
    """Cached ``Registry.resolve``: version numbers and aliases per name."""

    def __init__(
        self,
        registry: Registry,
        ttl_seconds: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl_seconds < 0:
            raise ValueError(
                f"ttl_seconds={ttl_seconds} is negative; use 0 to check the "
                "registry on every request or a positive number of seconds"
            )
        self.registry = registry
        self._root = os.fspath(registry.root)
        self.ttl_seconds = ttl_seconds
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()
        self.reads = 0
        # the two paths stat'ed per name, joined once
        self._paths: dict[str, tuple[str, str]] = {}
        self._metadata_paths = MetadataPaths(self._root)

    def resolve(self, name: str, ref: str | int) -> int:
        """Return the version number that ``ref`` (a number or alias) means.

        Raises the registry's ``NotFoundError`` or ``InvalidInputError`` for
        an unknown name, version or alias, or an invalid alias.
        """
        return self.resolve_stamped(name, ref)[0]

    def resolve_stamped(self, name: str, ref: str | int) -> tuple[int, Stamp | None]:
        """Resolve ``ref`` as ``resolve`` does, and return the version with
        the stamp of its ``metadata.json`` read on the way. The model cache
        checks that stamp instead of a stat of its own. The stamp is None
        where the registry resolved the reference."""
        check_name(name)
        entry = self._current(name)
        version = None if entry is None else _cached_version(entry, str(ref))
        if version is not None:
            stamp = metadata_stamp(self._metadata_paths.get(name, version))
            if stamp != MISSING:
                return version, stamp

        # unknown here, so ask the registry, which also raises the right error
        with self._lock:
            self._entries.pop(name, None)
        return self.registry.resolve(name, ref), None

    def invalidate(self, name: str | None = None) -> None:
        """Forget one name, or every name when ``name`` is None."""
        with self._lock:
            if name is None:
                self._entries.clear()
            else:
                self._entries.pop(name, None)

    def _current(self, name: str) -> _Entry | None:
        now = self._clock()
        entry = self._entries.get(name)
        fresh_enough = entry is not None and now - entry.checked_at < self.ttl_seconds
        if entry is not None and fresh_enough:
            return entry

        signature = self._signature(name)
        if signature[0] is None:
            return None
        if entry is not None and not entry.racy and entry.signature == signature:
            if self.ttl_seconds == 0:
                # without a TTL the check time is never read
                return entry
            fresh = _Entry(entry.versions, entry.aliases, signature, now, False)
        else:
            fresh = self._read(name, signature, now)
            if fresh is None:
                return None
        with self._lock:
            self._entries[name] = fresh
        return fresh

    def _read(self, name: str, signature: Signature, now: float) -> _Entry | None:
        versions = self.registry.versions(name)
        if not versions:
            return None
        try:
            stored = self.registry.aliases(name)
        except CheckpointError:
            # Registry.resolve raises the error for requests by alias
            stored = {}
        self.reads += 1
        return _Entry(
            versions=frozenset(versions),
            aliases={**stored, LATEST: versions[-1]},
            signature=signature,
            checked_at=now,
            racy=_is_racy(signature),
        )

    def _signature(self, name: str) -> Signature:
        # plain strings: two pathlib joins per request cost more than the stats
        paths = self._paths.get(name)
        if paths is None:
            base = os.path.join(self._root, name)
            paths = (os.path.join(base, "versions"), os.path.join(base, "aliases.json"))
            if len(self._paths) < MAX_CACHED_PATHS:
                self._paths[name] = paths
        try:
            folder = os.stat(paths[0])
        except FileNotFoundError:
            return (None, None)
        try:
            aliases = os.stat(paths[1])
        except FileNotFoundError:
            alias_part = None
        else:
            alias_part = (aliases.st_mtime_ns, aliases.st_ino, aliases.st_size)
        return ((folder.st_mtime_ns, folder.st_ino), alias_part)


def _cached_version(entry: _Entry, text: str) -> int | None:
    """Return the version that ``text`` (a number or alias) means in
    ``entry``, or None when the entry does not contain it."""
    version = version_number(text)
    if version is None:
        version = entry.aliases.get(text)
    return version if version in entry.versions else None


def _is_racy(signature: Signature) -> bool:
    newest_ns = max(part[0] for part in signature if part is not None)
    return time.time() - newest_ns / 1e9 < RACY_SECONDS
