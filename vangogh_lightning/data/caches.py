"""What later processes need not compute again: each file's validation result (``data.validation_cache``) and
each painting decoded and shrunk to the validation resize (``data.input_cache``, uint8 ``.npy``; the
validation transform's output is unchanged, training crops come from the shrunk copy: tests/test_data.py).

Both key a file by :func:`file_stamp` (size, mtime, ctime, inode, as git's index does): ``touch -d`` can put
an mtime back, but not the ctime. Input entries are checked when read and rebuilt when bad; writes are atomic.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from torchvision.transforms import v2

from vangogh_lightning.core.atomic import atomic_save_array, atomic_write_text, write_problem
from vangogh_lightning.core.images import load_rgb

log = logging.getLogger(__name__)

VERSION = 2  # 2: keyed by file_stamp (1: size and mtime only)


def cache_home() -> Path:
    """``$XDG_CACHE_HOME/vangogh-lightning`` (``~/.cache/...`` without it)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "vangogh-lightning"


def file_stamp(path: Path) -> list[int]:
    """(size, mtime_ns, ctime_ns, inode) of ``path``: what changes whenever its bytes can have changed."""
    st = path.stat()
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


def file_identity(path: str | Path) -> str:
    """``<resolved path>|<file stamp>``: a file as it is on disk now, for a cache key."""
    path = Path(path).resolve()
    return f"{path}|{file_stamp(path)}"


def entry_path(folder: Path, key_text: str) -> Path:
    """Where a cache under ``folder`` keeps the ``.npy`` entry keyed by ``key_text`` (``<xx>/<sha1>.npy``)."""
    key = hashlib.sha1(key_text.encode(), usedforsecurity=False).hexdigest()
    return folder / key[:2] / f"{key}.npy"


def npy_usage(folder: Path) -> tuple[int, int]:
    """(entries, bytes) of the ``<xx>/<key>.npy`` entries under ``folder`` now."""
    sizes = [p.stat().st_size for p in folder.glob("*/*.npy")]
    return len(sizes), sum(sizes)


def default_cache_file(image_root: str | Path) -> Path:
    """``<cache home>/validation-<hash of the image root>.json``."""
    key = hashlib.sha1(str(Path(image_root).resolve()).encode(), usedforsecurity=False).hexdigest()[:16]
    return cache_home() / f"validation-{key}.json"


class ValidationCache:
    """A JSON file mapping a file's absolute path to (stamp, pixel limit) -> (why unreadable or None, content
    digest); unreadable or foreign caches are ignored."""

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

    def lookup(self, path: Path, max_pixels: int | None) -> tuple[str | None, str] | None:
        """(reason or None, digest) when ``path`` is unchanged since it was checked, else None."""
        entry = self.entries.get(str(path.resolve()))
        if not isinstance(entry, list) or entry[:-2] != [*file_stamp(path), max_pixels]:  # (a hand-edited file)
            return None
        self.hits += 1
        return entry[-2], entry[-1]

    def store(self, path: Path, max_pixels: int | None, reason: str | None, digest: str) -> None:
        self.entries[str(path.resolve())] = [*file_stamp(path), max_pixels, reason, digest]
        self._dirty = True

    def save(self) -> None:
        """Write the cache if anything changed (best effort: a read-only cache folder is fine)."""
        if self.path is None or not self._dirty:
            return
        try:
            atomic_write_text(json.dumps({"version": VERSION, "files": self.entries}), self.path)
        except OSError as exc:
            log.info("could not write validation cache %s (%s)", self.path, exc)


def cached_short_side(image_size: int) -> int:
    """The short side an input entry is stored at: what the validation transform resizes to."""
    return round(image_size * 256 / 224)


class InputCache:
    """Decoded, resized RGB images under ``folder``, one ``.npy`` per (file stamp, sizes)."""

    def __init__(self, folder: str | Path, image_size: int, max_side: int | None = None,
                 max_pixels: int | None = None):
        self.folder = Path(folder).expanduser()
        self.short_side = cached_short_side(image_size)
        self.max_side, self.max_pixels = max_side, max_pixels
        self.resize = v2.Resize(self.short_side, antialias=True)  # the validation transform's own resize

    def problem(self) -> str | None:
        """Why entries cannot be written under the folder (a file, not writable, a full disk), or None."""
        return write_problem(self.folder)

    def entry(self, path: str | Path) -> Path:
        """Where the entry of ``path`` (as it is now on disk) lives."""
        return entry_path(self.folder, f"{VERSION}|{file_identity(path)}|{self.short_side}|{self.max_side}")

    def _good(self, array: np.ndarray) -> bool:
        return (array.dtype == np.uint8 and array.ndim == 3 and array.shape[2] == 3
                and 0 < min(array.shape[:2]) <= self.short_side and bool(array.any()))

    def load(self, path: str | Path) -> Image.Image:
        """The image of ``path``: read from the cache, or decoded (with load_rgb's checks) and stored."""
        entry = self.entry(path)
        try:
            array = np.load(entry, allow_pickle=False)
            if self._good(array):
                return Image.fromarray(array)
            log.warning("input cache: %s is not a decoded image of %s; decoding it again", entry, path)
        except (OSError, ValueError, EOFError):  # absent, or cut short by a kill: decode it again
            pass
        image = load_rgb(path, max_side=self.max_side, max_pixels=self.max_pixels)
        if min(image.size) > self.short_side:
            image = self.resize(image)
        atomic_save_array(np.asarray(image, dtype=np.uint8), entry)
        return image

    def usage(self) -> tuple[int, int]:
        """(entries, bytes) the cache folder holds now."""
        return npy_usage(self.folder)

    def describe(self) -> str:
        """One line: where the cache is and what it holds."""
        count, size = self.usage()
        return (f"input cache: {self.folder} ({count} decoded images, {size / 1e6:.0f} MB; short side "
                f"{self.short_side} px; data.input_cache=false decodes every epoch instead)")
