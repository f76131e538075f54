"""Controls for Table 1, judged by the same classifiers at the same threshold: what passes as Van Gogh
without any style transfer.

- the content photos, unstylized: the false-positive floor of the transfers;
- the style paintings themselves (flagged when one is in the training index: a classifier's verdict
  on its own training images is optimistic);
- real paintings out of fold: each scored by the fold that never trained on it, so the Van Gogh row
  is the classifiers' recall and the other painters' row their false-positive rate.

A control whose inputs are missing is named, with why, and left out; it is never an empty row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from vangogh_lightning.core.backbone_registry import backbone_names
from vangogh_lightning.core.images import expand_images
from vangogh_lightning.style.records import finished_records

PHOTOS = "control: content photos (unstylized)"
STYLES = "control: style paintings"
OOF_VAN_GOGH = "control: Van Gogh paintings (out-of-fold)"
OOF_OTHERS = "control: other painters (out-of-fold)"
CONTROL_SETS = (PHOTOS, STYLES, OOF_VAN_GOGH, OOF_OTHERS)


@dataclass
class Source:
    """What one stylized image was made from, from its stylize.py record (None without one), and the
    judge it was aimed at (``judge=`` in stylize.py; None for a plain transfer)."""

    content: Path | None
    styles: tuple[Path, ...]
    judge: str | None = None

    def pair_key(self, image: Path) -> str:
        """Equal for the transfers of one photo with one style (by file name without a record)."""
        if self.content is not None:
            return f"{self.content}|{'+'.join(map(str, self.styles))}"
        return re.sub(f"_({'|'.join(backbone_names())})$", "", image.stem)


def sources(images: list[Path]) -> dict[Path, Source]:
    """The record behind each stylized image (by resolved path)."""
    records: dict[Path, dict[str, Any]] = {}
    for folder in {p.parent for p in images}:
        records.update({Path(r["path"]).resolve(): r for r in finished_records(folder)})
    found = {}
    for image in images:
        record = records.get(image.resolve())
        content = Path(record["content"]).resolve() if record and record.get("content") else None
        styles = tuple(Path(s).resolve() for s in (record or {}).get("style") or [])
        judge = ((record or {}).get("judge") or {}).get("backbone")
        found[image.resolve()] = Source(content, styles, judge)
    return found


@dataclass
class Controls:
    """The control image sets to score, the pre-scored out-of-fold rows, and notes on each control."""

    images: dict[str, list[Path]] = field(default_factory=dict)
    scored: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)


def photo_control(made_from: dict[Path, Source], spec: Any) -> tuple[list[Path], str | None]:
    """The unstylized content photos: ``task.control_photos``, or the ones the records name."""
    if spec is not None:
        return expand_images(spec, what="task.control_photos"), None
    photos = sorted({s.content for s in made_from.values() if s.content is not None and s.content.is_file()})
    if photos:
        return photos, None
    return [], (f"'{PHOTOS}': missing; the stylized images have no stylize.py records naming their "
                "content photos; pass task.control_photos=<the photos>")


def style_control(made_from: dict[Path, Source], training: set[str]) -> tuple[list[Path], str | None]:
    """The style paintings the records name, and a note on those that are in the training index."""
    paintings = sorted({s for src in made_from.values() for s in src.styles if s.is_file()})
    if not paintings:
        return [], (f"'{STYLES}': missing; the stylized images have no stylize.py records naming their "
                    "style paintings")
    seen = [p for p in paintings if str(p) in training or p.name in training]
    if not seen:
        return paintings, None
    return paintings, (f"'{STYLES}': {len(seen)} of {len(paintings)} in the classifiers' training index "
                       f"({', '.join(p.name for p in seen[:3])}): their verdicts are optimistic")


def training_files(oof: dict[str, pd.DataFrame]) -> set[str]:
    """Resolved paths and file names of every image a judge's run trained or validated on."""
    names: set[str] = set()
    for frame in oof.values():
        paths = frame["path"].dropna().astype(str)
        names |= {str(Path(p).resolve()) for p in paths} | {Path(p).name for p in paths}
    return names


def oof_control(oof: dict[str, pd.DataFrame], judges: tuple[str, ...], threshold: float
                ) -> tuple[pd.DataFrame | None, list[str]]:
    """Out-of-fold paintings scored by every judge's own folds (joined by file name), as verdict rows."""
    missing = [j for j in judges if oof.get(j) is None or oof[j].empty]
    if missing:
        return None, [f"'{OOF_VAN_GOGH}' and '{OOF_OTHERS}': missing; no out-of-fold predictions for "
                      f"the {', '.join(missing)} judge (fold_<k>/oof_predictions.csv of its training run)"]
    joined = None
    for judge in judges:
        part = oof[judge][["filename", "path", "label", "p_van_gogh"]].rename(columns={"p_van_gogh": f"p_{judge}"})
        joined = part if joined is None else joined.merge(part[["filename", f"p_{judge}"]], on="filename")
    notes = []
    if joined.empty:
        return None, [f"'{OOF_VAN_GOGH}' and '{OOF_OTHERS}': missing; the judges' runs share no "
                      "painting (were they trained on different data?)"]
    smallest = min(len(oof[j]) for j in judges)
    if len(joined) < smallest:
        notes.append(f"out-of-fold controls: {len(joined)} paintings scored by both judges' runs "
                     f"(of {smallest} or more in each)")
    joined["set"] = joined["label"].map({1: OOF_VAN_GOGH, 0: OOF_OTHERS})
    joined["kind"] = "control"
    joined["image"] = joined["path"]
    for judge in judges:
        joined[judge] = joined[f"p_{judge}"] >= threshold
    order = {OOF_VAN_GOGH: 0, OOF_OTHERS: 1}
    joined = joined.sort_values("set", key=lambda s: s.map(order), kind="stable")
    return joined[["set", "kind", "image", *[c for j in judges for c in (f"p_{j}", j)]]].reset_index(drop=True), notes
