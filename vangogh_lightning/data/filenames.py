"""Match file names from an index to files on disk despite Unicode forms and mojibake."""

from __future__ import annotations

import unicodedata
from pathlib import Path


def unmojibake(text: str) -> str:
    """Undo UTF-8 bytes that were decoded as Latin-1/CP1252 (e.g. 'cÃ©zanne' -> 'cézanne')."""
    for codec in ("cp1252", "latin-1"):
        try:
            fixed = text.encode(codec).decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            continue
        if fixed != text:
            return fixed
    return text


def canonical_name(name: str) -> str:
    """A key equal for all spellings of one file name: mojibake undone, NFC, case-folded."""
    return unicodedata.normalize("NFC", unmojibake(unicodedata.normalize("NFC", name))).casefold()


class FileResolver:
    """Finds the file on disk for an index entry like ``Post_Impressionism/x.jpg``."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self._by_key: dict[str, Path] = {}
        if self.root.is_dir():
            for path in self.root.rglob("*"):
                if path.is_file():
                    rel = path.relative_to(self.root).as_posix()
                    self._by_key.setdefault(canonical_name(rel), path)

    def resolve(self, relative: str) -> Path | None:
        """Return the existing file for ``relative`` or None."""
        direct = self.root / relative
        if direct.is_file():
            return direct
        return self._by_key.get(canonical_name(relative))
