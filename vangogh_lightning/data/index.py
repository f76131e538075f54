"""Build the image index (path, label, artist, phash) from a WikiArt CSV or a plain folder, matching file
names despite Unicode forms and mojibake."""

from __future__ import annotations

import hashlib
import os
import posixpath
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from vangogh_lightning.config.schema import check_csv_path
from vangogh_lightning.core.errors import UserError
from vangogh_lightning.core.images import IMAGE_SUFFIXES, check_readable
from vangogh_lightning.data.caches import ValidationCache

WIKIART_COLUMNS = ("filename", "artist", "genre", "description", "phash", "width", "height", "genre_count", "subset")
REQUIRED_COLUMNS = ("filename", "artist")


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


def resolve_files(root: str | Path, names: pd.Series) -> list[Path | None]:
    """The file on disk for each index entry like ``Post_Impressionism/x.jpg``, or None where there is none."""
    root = Path(root)
    files = [path for path in root.rglob("*") if path.is_file()] if root.is_dir() else []
    by_key = {canonical_name(path.relative_to(root).as_posix()): path for path in reversed(files)}  # first wins
    found = [root / name if (root / name).is_file() else by_key.get(canonical_name(name)) for name in names]
    refuse_links_outside_root([p for p in found if p is not None], root)
    return found


def refuse_links_outside_root(paths: list[Path], root: Path) -> None:
    """Every file the index reads lies below ``data.image_root`` once links are followed, as every row must."""
    real_root = root.resolve()
    for path in paths:
        real = path.resolve()
        if not real.is_relative_to(real_root):
            raise UserError(f"data.image_root={root}: {path.relative_to(root)} is a link that leads outside it (to "
                            f"{real}); copy the file in, or set data.image_root to a folder that holds it")


def normalise_artist(name: str) -> str:
    """'Vincent_Van-Gogh ' -> 'vincent van gogh'."""
    return re.sub(r"[\s_\-]+", " ", str(name)).strip().lower()


DUPLICATE_KINDS = {
    "file": "same file listed again",
    "content": "identical bytes under another name",
    "phash": "same phash (the same painting re-encoded)",
}


@dataclass
class IndexReport:
    """What validation found; printed before training."""

    total: int = 0
    missing: list[str] = field(default_factory=list)
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    duplicates: dict[str, list[str]] = field(default_factory=lambda: {k: [] for k in DUPLICATE_KINDS})
    duplicates_dropped: bool = True
    kept: int = 0
    cached: int = 0  # files whose check came from the validation cache

    def summary(self) -> str:
        kinds = ", ".join(f"{len(self.duplicates[k])} {k}" for k in DUPLICATE_KINDS)
        fate = "dropped" if self.duplicates_dropped else "kept, each group in one fold"
        lines = [
            f"index: {self.total} entries, {len(self.missing)} missing, {len(self.unreadable)} unreadable, "
            f"{sum(map(len, self.duplicates.values()))} duplicate ({kinds}; {fate}), {self.kept} kept"
            + (f" ({self.cached} checks from the validation cache)" if self.cached else "")
        ]
        lines += [f"  missing: {name}" for name in self.missing[:5]]
        lines += [f"  unreadable: {name} ({why})" for name, why in self.unreadable[:5]]
        for kind, names in self.duplicates.items():
            lines += [f"  duplicate ({DUPLICATE_KINDS[kind]}): {name}" for name in names[:3]]
        return "\n".join(lines)


def refuse_paths_outside_root(filenames: pd.Series, csv_path: Path) -> None:
    """Every ``filename`` stays below ``data.image_root``: no absolute paths, no ``..`` that climbs out
    (a link inside the root may still lead elsewhere: that is the owner's choice, a row is not)."""
    def escapes(name: str) -> bool:
        name = posixpath.normpath(name.replace("\\", "/"))
        return name.startswith("/") or name.split("/")[0] == ".."

    outside = filenames.map(escapes)
    if outside.any():
        row = int(outside.to_numpy().nonzero()[0][0])
        raise UserError(
            f"data.csv_path={csv_path}: line {row + 2} names {filenames.iloc[row]!r}, outside data.image_root "
            f"({int(outside.sum())} such row(s)); list only files below the image root"
        )


def read_wikiart_csv(
    csv_path: str | Path, image_root: str | Path, styles: list[str], positive_artist: str
) -> pd.DataFrame:
    """Read a Kaggle WikiArt ``classes.csv``, keep ``styles``, label ``positive_artist`` as 1."""
    csv_path = check_csv_path(csv_path)
    try:
        frame = pd.read_csv(csv_path, dtype=str, keep_default_na=False, encoding="utf-8")
    except pd.errors.EmptyDataError:
        raise UserError(f"data.csv_path={csv_path}: the CSV is empty") from None
    except UnicodeDecodeError as exc:
        raise UserError(
            f"data.csv_path={csv_path}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start}); "
            f"re-save it as UTF-8, e.g. iconv -f latin1 -t utf-8 {csv_path.name} > classes-utf8.csv"
        ) from None
    missing_cols = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing_cols:
        raise UserError(f"data.csv_path={csv_path}: missing column(s) {', '.join(missing_cols)}; "
                        f"expected the WikiArt classes.csv columns {', '.join(WIKIART_COLUMNS)}")
    if frame.empty:
        raise UserError(f"data.csv_path={csv_path}: the CSV has a header but no rows")
    refuse_paths_outside_root(frame["filename"], csv_path)
    frame["style"] = frame["filename"].str.split("/").str[0]
    wanted = set(styles)
    kept = frame[frame["style"].isin(wanted)].copy()
    if kept.empty:
        found = ", ".join(sorted(frame["style"].unique())[:8])
        raise UserError(f"data.styles={sorted(wanted)}: no rows of {csv_path} are in these styles (found: {found})")
    kept["artist"] = kept["artist"].map(normalise_artist)
    positive = normalise_artist(positive_artist)
    kept["label"] = (kept["artist"] == positive).astype(int)
    if kept["label"].sum() == 0:
        artists = kept["artist"].value_counts().index[:5].tolist()
        raise UserError(f"data.positive_artist='{positive_artist}': no such artist among the kept rows of "
                        f"{csv_path} (most common: {', '.join(artists)})")
    if "phash" not in kept.columns:
        kept["phash"] = ""
    kept["path"] = resolve_files(image_root, kept["filename"])
    return kept[["filename", "path", "label", "artist", "phash"]].reset_index(drop=True)


def read_painting_folder(root: str | Path, positive_artist: str) -> pd.DataFrame:
    """Index a folder of ``<artist-slug>_<title>.jpg`` files."""
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"data.image_root={root}: folder not found")
    files = sorted(p for p in root.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise UserError(f"data.image_root={root}: the folder holds no images")
    refuse_links_outside_root(files, root)
    # the WikiArt file-name convention: 'Vincent van Gogh' -> 'vincent-van-gogh'
    ascii_name = unicodedata.normalize("NFKD", positive_artist).encode("ascii", "ignore").decode()
    positive = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")
    slugs = [path.stem.split("_", 1)[0] for path in files]
    frame = pd.DataFrame({"filename": [p.name for p in files], "path": files,
                          "label": [int(slug == positive) for slug in slugs],
                          "artist": [slug.replace("-", " ") for slug in slugs], "phash": ""})
    if frame["label"].sum() == 0:
        raise UserError(f"data.positive_artist='{positive_artist}': no file in {root} starts with '{positive}_'")
    return frame


def file_digest(path: str | Path) -> str:
    """SHA-1 of a file's bytes (identical copies under different names share it)."""
    digest = hashlib.sha1(usedforsecurity=False)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def duplicate_groups(frame: pd.DataFrame) -> tuple[np.ndarray, dict[str, list[int]]]:
    """(group id per row, {kind: rows repeating an earlier row}) over resolved path, bytes and phash.

    Rows sharing any key are one group, transitively; a repeat counts under its first kind that matches."""
    parent = list(range(len(frame)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first_seen: dict[tuple[str, str], int] = {}
    repeats: dict[str, list[int]] = {k: [] for k in DUPLICATE_KINDS}
    for pos, row in enumerate(frame.itertuples(index=False)):
        keys = [("file", os.path.realpath(row.path)), ("content", row.digest)]
        keys += [("phash", row.phash)] if row.phash else []
        seen = [kind for kind, value in keys if (kind, value) in first_seen]
        if seen:
            repeats[seen[0]].append(pos)
        for key in keys:
            parent[root(pos)] = root(first_seen.setdefault(key, pos))
    return np.array([root(i) for i in range(len(frame))]), repeats


def validate_index(frame: pd.DataFrame, on_missing: str, drop_duplicates: bool = True,
                   max_pixels: int | None = None, cache: ValidationCache | None = None
                   ) -> tuple[pd.DataFrame, IndexReport]:
    """Count missing, unreadable and duplicate entries; raise or drop them per ``on_missing``.

    Duplicates (the same file listed twice, identical bytes under two names, or the same phash)
    are dropped with ``drop_duplicates``; otherwise they stay and the ``group`` column keeps each
    set of copies in one fold, so no image is ever on both sides of a split."""
    report = IndexReport(total=len(frame), duplicates_dropped=drop_duplicates)
    digests: list[str | None] = []  # None: the row is dropped
    for name, path in zip(frame["filename"], frame["path"]):
        if path is None or not Path(path).is_file():
            report.missing.append(name)
            digests.append(None)
            continue
        path = Path(path)
        known = cache.lookup(path, max_pixels) if cache is not None else None
        if known is None:
            reason = check_readable(path, max_pixels)
            known = (reason, file_digest(path) if reason is None else "")
            if cache is not None:
                cache.store(path, max_pixels, *known)
        reason, digest = known
        if reason is not None:
            report.unreadable.append((name, reason))
        digests.append(digest if reason is None else None)
    if cache is not None:
        cache.save()
        report.cached = cache.hits
    clean = frame.assign(digest=digests).dropna(subset="digest")
    groups, repeats = duplicate_groups(clean)
    clean = clean.assign(group=groups)
    report.duplicates = {kind: clean["filename"].iloc[rows].tolist() for kind, rows in repeats.items()}
    if drop_duplicates:
        clean = clean.drop(clean.index[sum(repeats.values(), [])])
    report.kept = len(clean)
    n_bad = len(report.missing) + len(report.unreadable)
    if n_bad and on_missing == "error":
        first = report.missing[0] if report.missing else "{} ({})".format(*report.unreadable[0])
        raise UserError(f"data: {n_bad} of {report.total} images are missing or unreadable (first: {first}); "
                        "fix data.image_root / the files, or set data.on_missing=skip to train without them")
    if clean.empty:
        raise UserError("data: no usable images remain after validation")
    return clean.reset_index(drop=True), report
