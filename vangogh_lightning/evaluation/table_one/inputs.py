"""What Table 1 judges: the stylized images (plain transfers, and those aimed at a judge), and the controls
(what passes as Van Gogh without style transfer): the content photos unstylized, the style paintings, and
real paintings out of fold (the Van Gogh row is the recall, the other painters' the false-positive rate).
A control whose inputs are missing is named, with why, and left out; it is never an empty row."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from vangogh_lightning.core.backbone_registry import backbone_names, title_of
from vangogh_lightning.core.errors import UserError
from vangogh_lightning.core.images import expand_images
from vangogh_lightning.style.records import finished_records

PHOTOS = "control: content photos (unstylized)"
STYLES = "control: style paintings"
OOF_VAN_GOGH = "control: Van Gogh paintings (out-of-fold)"
OOF_OTHERS = "control: other painters (out-of-fold)"
NOT_RESULTS = ("_sheet.png",)  # comparison sheets stylize.py writes beside its results


def stylized_images(spec, key: str) -> list[Path]:
    """The stylized results among a folder, glob or list, each image file once (symlinks, overlapping globs):
    a stylize.py folder's are the images its records name, other folders' and globs' their images but sheets."""
    paths: list[Path] = []
    for item in [spec] if isinstance(spec, (str, Path)) else spec:
        folder = Path(str(item)).expanduser()
        recorded = [r["path"] for r in finished_records(folder)] if folder.is_dir() else []
        paths += recorded or [p for p in expand_images(item, what=key) if not p.name.endswith(NOT_RESULTS)]
    unique: dict[Path, Path] = {}
    for path in paths:
        unique.setdefault(path.resolve(), path)
    if not unique:
        raise UserError(f"{key}={spec}: no stylized images found (sheets and snapshots are not counted)")
    return list(unique.values())


@dataclass
class MadeFrom:
    """What one stylized image was made from (its stylize.py record; None without one), and the judge it aimed at."""

    content: Path | None
    styles: tuple[Path, ...]
    judge: str | None = None
    pretrained: bool | None = None  # whether the transfer's backbone had ImageNet weights (None: not recorded)

    def pair_key(self, image: Path) -> str:
        """Equal for the transfers of one photo with one style (by file name without a record)."""
        if self.content is not None:
            return f"{self.content}|{'+'.join(map(str, self.styles))}"
        return re.sub(f"_({'|'.join(backbone_names())})$", "", image.stem)


def made_from_records(images: list[Path]) -> dict[Path, MadeFrom]:
    """The record behind each stylized image (by resolved path)."""
    records = {Path(r["path"]).resolve(): r for folder in {p.parent for p in images} for r in finished_records(folder)}
    found = {}
    for image in images:
        record = records.get(image.resolve(), {})
        content = Path(record["content"]).resolve() if record.get("content") else None
        found[image.resolve()] = MadeFrom(content, tuple(Path(s).resolve() for s in record.get("style") or []),
                                          (record.get("judge") or {}).get("backbone"),
                                          ((record.get("config") or {}).get("backbone") or {}).get("pretrained"))
    return found


def image_sets(task: Any) -> tuple[pd.DataFrame, dict[Path, MadeFrom]]:
    """The stylized images, one row each (set, kind, transfer, aimed_at, image, pair): plain transfers
    (``task.stylized``) and those aimed at a judge (``task.targeted``); and what each was made from."""
    plain = {t: stylized_images(spec, f"task.stylized.{t}") for t, spec in task.stylized.items()}
    aimed = {t: stylized_images(spec, f"task.targeted.{t}") for t, spec in (task.get("targeted") or {}).items()
             if spec is not None}
    made_from = made_from_records([p for paths in (*plain.values(), *aimed.values()) for p in paths])
    frames = []
    for kind, sets in (("transfer", plain), ("targeted", aimed)):
        for transfer, paths in sets.items():
            judges = [made_from[p.resolve()].judge for p in paths]
            if kind == "targeted" and None in judges:
                raise UserError(f"task.targeted.{transfer}: {paths[judges.index(None)]} was not aimed at a judge (its "
                                f"stylize record names none); pass plain transfers as task.stylized.{transfer}")
            frames.append(pd.DataFrame({
                "set": [f"{transfer} transfer" if kind == "transfer" else
                        f"{transfer} transfer aimed at {title_of(j)}" for j in judges],
                "kind": kind, "transfer": transfer, "aimed_at": judges if kind == "targeted" else None,
                "image": [str(p) for p in paths], "pair": [made_from[p.resolve()].pair_key(p) for p in paths]}))
    return pd.concat(frames, ignore_index=True), made_from


def stand_ins(origins: dict[str, dict], made_from: dict[Path, MadeFrom]) -> str:
    """The banner of a table made with random weights or generated data ('' when every part is the real thing)."""
    parts = []
    random = [title_of(j) for j, o in origins.items() if not o["pretrained"]]
    if random:
        parts.append(f"the {' and '.join(random)} judge{'s' * (len(random) > 1)} started from random weights "
                     "(model.pretrained=false)")
    generated = [title_of(j) for j, o in origins.items() if o["source"] == "synthetic"]
    if generated:
        parts.append(f"the {' and '.join(generated)} judge{'s' * (len(generated) > 1)} learnt generated images "
                     "(data=synthetic)")
    if any(m.pretrained is False for m in made_from.values()):
        parts.append("transfers were made with random backbones (backbone.pretrained=false)")
    return f"made with stand-ins: {'; '.join(parts)}. The pipeline is real; these numbers are not the study's" \
        if parts else ""


def count_once(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """``frame`` with each image set's byte-identical files kept once (the first), and a note per set that had some
    (a copied result would otherwise count twice in its share)."""
    from vangogh_lightning.data.index import file_digest

    keyed = frame.assign(digest=frame["image"].map(file_digest))
    repeated = keyed.duplicated(["set", "digest"])
    notes = []
    for name, rows in keyed[repeated].groupby("set", sort=False):
        firsts = keyed[(keyed["set"] == name) & ~repeated].set_index("digest")["image"]
        pairs = [f"{Path(r.image).name} = {Path(firsts[r.digest]).name}" for r in rows.itertuples()]
        notes.append(f"'{name}': {len(rows)} byte-identical image(s) counted once ({', '.join(pairs[:3])}"
                     f"{', ...' if len(pairs) > 3 else ''})")
    return frame[~repeated].reset_index(drop=True), notes


def photo_control(made_from: dict[Path, MadeFrom], spec: Any) -> tuple[list[Path], str | None]:
    """The unstylized content photos: ``task.control_photos``, or the ones the records name."""
    if spec is not None:
        return expand_images(spec, what="task.control_photos"), None
    photos = sorted({s.content for s in made_from.values() if s.content is not None and s.content.is_file()})
    return photos, None if photos else (f"'{PHOTOS}': missing; the stylized images have no stylize.py records "
                                        "naming their content photos; pass task.control_photos=<the photos>")


def style_control(made_from: dict[Path, MadeFrom], training: set[str]) -> tuple[list[Path], str | None]:
    """The style paintings the records name, and a note on those that are in the training index."""
    paintings = sorted({s for src in made_from.values() for s in src.styles if s.is_file()})
    if not paintings:
        return [], (f"'{STYLES}': missing; the stylized images have no stylize.py records naming their "
                    "style paintings")
    seen = [p for p in paintings if str(p) in training or p.name in training]
    return paintings, (f"'{STYLES}': {len(seen)} of {len(paintings)} in the classifiers' training index "
                       f"({', '.join(p.name for p in seen[:3])}): their verdicts are optimistic") if seen else None


def training_files(oof: dict[str, pd.DataFrame]) -> set[str]:
    """Resolved paths and file names of every image a judge's run trained or validated on."""
    paths = [p for frame in oof.values() for p in frame["path"].dropna().astype(str)]
    return {str(Path(p).resolve()) for p in paths} | {Path(p).name for p in paths}


def oof_control(oof: dict[str, pd.DataFrame], judges: Sequence[str]) -> tuple[pd.DataFrame | None, list[str]]:
    """Out-of-fold paintings scored by every judge's own folds (joined by file name): rows of P(Van Gogh)."""
    missing = [j for j in judges if oof.get(j) is None or oof[j].empty]
    if missing:
        return None, [f"'{OOF_VAN_GOGH}' and '{OOF_OTHERS}': missing; no out-of-fold predictions for "
                      f"the {', '.join(missing)} judge (fold_<k>/oof_predictions.csv of its training run)"]
    joined = None
    for judge in judges:
        part = oof[judge][["filename", "path", "label", "p_van_gogh"]].rename(columns={"p_van_gogh": f"p_{judge}"})
        joined = part if joined is None else joined.merge(part[["filename", f"p_{judge}"]], on="filename")
    if joined.empty:
        return None, [f"'{OOF_VAN_GOGH}' and '{OOF_OTHERS}': missing; the judges' runs share no "
                      "painting (were they trained on different data?)"]
    smallest, every = min(len(oof[j]) for j in judges), "both" if len(judges) == 2 else f"all {len(judges)}"
    notes = [f"out-of-fold controls: {len(joined)} paintings scored by {every} judges' runs (of {smallest} or more "
             "in each)"] if len(joined) < smallest else []
    joined = joined.assign(set=joined["label"].map({1: OOF_VAN_GOGH, 0: OOF_OTHERS}), kind="control",
                           image=joined["path"])
    joined = joined.sort_values("label", ascending=False, kind="stable")  # Van Gogh's paintings first
    return joined[["set", "kind", "image", *[f"p_{j}" for j in judges]]].reset_index(drop=True), notes

