"""Decoded training inputs kept on disk: each painting decoded and shrunk once, then read back in
milliseconds by every fold, epoch, search trial and process (``data.input_cache``).

Without it every epoch of every fold of every trial decodes the same JPEGs (typically 1024 px and up)
again: ~2,000 decodes per image in the report's search. An entry is the image after
:func:`~vangogh_lightning.core.images.load_rgb` and the validation transform's own resize (short side
``round(size * 256 / 224)``), as uint8 in a ``.npy`` file (~0.26 MB for a 4:3 painting at 224 px).
So the validation transform's output is the same as without the cache, and training crops are taken
from that resized image instead of the decoded one (tests/test_data.py bounds the difference). An entry is keyed by the
file's absolute path, size and mtime (a changed file is decoded again) and the two sizes; writes are
atomic, so two processes filling the same cache never leave half a file.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
from PIL import Image
from torchvision.transforms import v2

from vangogh_lightning.core.atomic import atomic_write
from vangogh_lightning.core.images import load_rgb

VERSION = 1


def default_input_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/vangogh-lightning/inputs`` (``~/.cache/...`` without it)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "vangogh-lightning" / "inputs"


def cached_short_side(image_size: int) -> int:
    """The short side an entry is stored at: what the validation transform resizes to."""
    return round(image_size * 256 / 224)


class InputCache:
    """Decoded, resized RGB images under ``folder``, one ``.npy`` per (file, size, mtime, sizes)."""

    def __init__(self, folder: str | Path, image_size: int, max_side: int | None = None,
                 max_pixels: int | None = None):
        self.folder = Path(folder).expanduser()
        self.short_side = cached_short_side(image_size)
        self.max_side, self.max_pixels = max_side, max_pixels
        self.resize = v2.Resize(self.short_side, antialias=True)  # the validation transform's own resize

    def entry(self, path: str | Path) -> Path:
        """Where the entry of ``path`` (as it is now on disk) lives."""
        path = Path(path).resolve()
        stat = path.stat()
        text = f"{VERSION}|{path}|{stat.st_size}|{stat.st_mtime_ns}|{self.short_side}|{self.max_side}"
        key = hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()
        return self.folder / key[:2] / f"{key}.npy"

    def load(self, path: str | Path) -> Image.Image:
        """The image of ``path``: read from the cache, or decoded (with load_rgb's checks) and stored."""
        entry = self.entry(path)
        try:
            return Image.fromarray(np.load(entry, allow_pickle=False))
        except (OSError, ValueError, EOFError):  # absent, or cut short by a kill: decode it again
            pass
        image = load_rgb(path, max_side=self.max_side, max_pixels=self.max_pixels)
        if min(image.size) > self.short_side:
            image = self.resize(image)
        array = np.asarray(image, dtype=np.uint8)

        def save(tmp: Path) -> None:
            with open(tmp, "wb") as handle:
                np.save(handle, array, allow_pickle=False)

        entry.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(entry, save)
        return image

    def usage(self) -> tuple[int, int]:
        """(entries, bytes) the cache folder holds now."""
        count = size = 0
        if self.folder.is_dir():
            for sub in os.scandir(self.folder):
                if sub.is_dir():
                    for item in os.scandir(sub.path):
                        if item.name.endswith(".npy"):
                            count += 1
                            size += item.stat().st_size
        return count, size

    def describe(self) -> str:
        """One line: where the cache is and what it holds."""
        count, size = self.usage()
        return (f"input cache: {self.folder} ({count} decoded images, {size / 1e6:.0f} MB; short side "
                f"{self.short_side} px; data.input_cache=false decodes every epoch instead)")
