"""Remember what index validation learned about each file, so later processes skip the decoding.

Every fold run and search trial builds the same index; decoding 6,450 paintings takes ~19 s. The
cache maps a file's absolute path to (size, mtime_ns, pixel limit) -> (why unreadable or None,
content digest). A file whose size or mtime changed, or a new one, is checked again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

from vangogh_lightning.core.atomic import atomic_write_text

log = logging.getLogger(__name__)

VERSION = 1


def default_cache_file(image_root: str | Path) -> Path:
    """``$XDG_CACHE_HOME/vangogh-lightning/validation-<hash of the image root>.json``."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "vangogh-lightning"
    key = hashlib.sha1(str(Path(image_root).resolve()).encode(), usedforsecurity=False).hexdigest()[:16]
    return base / f"validation-{key}.json"


class ValidationCache:
    """A JSON file of per-file validation results; unreadable or foreign caches are ignored."""

    def __init__(self, path: Path | None):
        self.path = path
        self.entries: dict[str, list[Any]] = {}
        self.hits = 0
        self._dirty = False
        if path is not None and path.is_file():
            try:
                data = json.loads(path.read_text())
                if data.get("version") == VERSION and isinstance(data.get("files"), dict):
                    self.entries = data["files"]
            except (OSError, ValueError, AttributeError):
                log.info("validation cache %s unreadable; checking every file again", path)

    @staticmethod
    def _stamp(path: Path, max_pixels: int | None) -> list[Any]:
        st = path.stat()
        return [st.st_size, st.st_mtime_ns, max_pixels]

    def lookup(self, path: Path, max_pixels: int | None) -> tuple[str | None, str] | None:
        """(reason or None, digest) when ``path`` is unchanged since it was checked, else None."""
        entry = self.entries.get(str(path.resolve()))
        if entry is None or entry[:3] != self._stamp(path, max_pixels):
            return None
        self.hits += 1
        return entry[3], entry[4]

    def store(self, path: Path, max_pixels: int | None, reason: str | None, digest: str) -> None:
        self.entries[str(path.resolve())] = [*self._stamp(path, max_pixels), reason, digest]
        self._dirty = True

    def save(self) -> None:
        """Write the cache if anything changed (best effort: a read-only cache folder is fine)."""
        if self.path is None or not self._dirty:
            return
        try:
            atomic_write_text(json.dumps({"version": VERSION, "files": self.entries}), self.path)
        except OSError as exc:
            log.info("could not write validation cache %s (%s)", self.path, exc)
