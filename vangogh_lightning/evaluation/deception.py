"""The report's Table 1: the share of an image set judged Van Gogh by each classifier and by both,
with its interval; which stylized images a set holds; their thumbnails with both verdicts."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
from PIL import Image, ImageDraw

from vangogh_lightning.config.schema import IntervalMethod
from vangogh_lightning.core.backbone_registry import backbone_names, title_of
from vangogh_lightning.core.errors import UserError
from vangogh_lightning.core.images import atomic_save, expand_images, load_rgb
from vangogh_lightning.evaluation.statistics import Share, mean_interval, share_interval
from vangogh_lightning.style.records import finished_records

# The two classifiers that judge, in the report's order (Table 1's VGG19 row first).
JUDGES = backbone_names()
NOT_RESULTS = ("_sheet.png",)  # comparison sheets stylize.py writes beside its results


def stylized_images(spec, key: str) -> list[Path]:
    """The stylized results among a folder, glob or list: each image file counted once.

    A folder written by stylize.py contributes exactly the images its JSON records name (never the
    ``*_sheet.png`` sheets or ``steps/`` snapshots); a plain folder or glob contributes its images
    except sheets. Paths reached twice (symlinks, overlapping globs) count once.
    """
    items = [spec] if isinstance(spec, (str, Path)) else list(spec)
    paths: list[Path] = []
    for item in items:
        folder = Path(str(item)).expanduser()
        recorded = [r["path"] for r in finished_records(folder)] if folder.is_dir() else []
        if recorded:
            paths += recorded
            continue
        paths += [p for p in expand_images(item, what=key) if not p.name.endswith(NOT_RESULTS)]
    unique: dict[Path, Path] = {}
    for path in paths:
        unique.setdefault(path.resolve(), path)
    if not unique:
        raise UserError(f"{key}={spec}: no stylized images found (sheets and snapshots are not counted)")
    return list(unique.values())


def judge_row(judge: str) -> str:
    """Table 1's row of one judge: 'VGG19 identified as Van Gogh'."""
    return f"{title_of(judge)} identified as Van Gogh"


# Table 1's rows: the report's three, then the images only one classifier took for Van Gogh and those
# neither did (the last three add up to one).
CONDITIONS = (*map(judge_row, JUDGES), "Both models agreed", "Only one of them", "Neither")


def _set_names(verdicts: pd.DataFrame) -> pd.Series:
    """Each verdict's image set: its ``set`` column, or '<transfer> transfer'."""
    if "set" in verdicts:
        return verdicts["set"]
    return verdicts["transfer"].astype(str) + " transfer"


def condition_masks(group: pd.DataFrame) -> dict[str, pd.Series]:
    """Per condition of :data:`CONDITIONS`, which images of ``group`` meet it."""
    said = [group[j].astype(bool) for j in JUDGES]
    both, either = said[0] & said[1], said[0] | said[1]
    return {**{judge_row(j): s for j, s in zip(JUDGES, said)}, "Both models agreed": both,
            "Only one of them": either & ~both, "Neither": ~either}


def deception_table(verdicts: pd.DataFrame) -> pd.DataFrame:
    """Rows = condition (then ``images``), columns = image set, values = share in [0, 1].

    ``verdicts`` has one row per image with a ``transfer`` (or ``set``) column and a boolean column
    per judge (judged Van Gogh by that classifier).
    """
    rows = {}
    for name, group in verdicts.groupby(_set_names(verdicts), sort=False):
        rows[name] = {c: mask.mean() for c, mask in condition_masks(group).items()} | {"images": len(group)}
    return pd.DataFrame(rows)


def rate_rows(verdicts: pd.DataFrame, confidence: float, method: IntervalMethod) -> pd.DataFrame:
    """Table 1 in long form: one row per (image set, condition) with ``k`` of ``n`` images, the share and
    its interval (``low``, ``high``); judge rows also carry the mean P(Van Gogh) and its t interval."""
    rows = []
    kinds = verdicts["kind"] if "kind" in verdicts else pd.Series("transfer", index=verdicts.index)
    for name, group in verdicts.groupby(_set_names(verdicts), sort=False):
        for condition, mask in condition_masks(group).items():
            share = share_interval(int(mask.sum()), len(group), confidence, method)
            row = {"set": name, "kind": kinds[group.index[0]], "condition": condition, "k": share.k, "n": share.n,
                   "share": share.share, "low": share.low, "high": share.high}
            judge = next((j for j in JUDGES if judge_row(j) == condition), None)
            mean, low, high = mean_interval(group[f"p_{judge}"], confidence) if judge else (math.nan,) * 3
            rows.append(row | {"mean_p": mean, "mean_p_low": low, "mean_p_high": high})
    return pd.DataFrame(rows)


def shares_as_text(rates: pd.DataFrame) -> pd.DataFrame:
    """The long table as Table 1 reads: conditions down, image sets across, '35% (7/20; 18–57%)' cells,
    then the image count and each judge's mean P(Van Gogh) with its interval."""
    sets = list(dict.fromkeys(rates["set"]))
    by = rates.set_index(["condition", "set"])
    table = {}
    for name in sets:
        cells = {c: Share(int(by.loc[(c, name), "k"]), int(by.loc[(c, name), "n"]), by.loc[(c, name), "low"],
                          by.loc[(c, name), "high"]).text() for c in CONDITIONS}
        cells["images"] = str(int(by.loc[(CONDITIONS[0], name), "n"]))
        for judge in JUDGES:
            row = by.loc[(judge_row(judge), name)]
            bounds = "" if math.isnan(row["mean_p_low"]) else f" ({row['mean_p_low']:.2f}–{row['mean_p_high']:.2f})"
            cells[f"mean P(Van Gogh), {title_of(judge)}"] = f"{row['mean_p']:.2f}{bounds}"
        table[name] = cells
    frame = pd.DataFrame(table)
    frame.index.name = "condition"
    return frame


def verdict_grid(verdicts: pd.DataFrame, path: Path, thumb: int = 160, columns: int = 5) -> Path:
    """A grid of thumbnails, each captioned with both classifiers' probabilities and verdicts."""
    caption_h = 34
    rows = -(-len(verdicts) // columns)
    sheet = Image.new("RGB", (columns * thumb, rows * (thumb + caption_h)), "white")
    draw = ImageDraw.Draw(sheet)
    for i, row in enumerate(verdicts.itertuples(index=False)):
        img = load_rgb(row.image, max_side=thumb)
        x, y = (i % columns) * thumb, (i // columns) * (thumb + caption_h)
        sheet.paste(img, (x + (thumb - img.width) // 2, y + (thumb - img.height) // 2))
        mark = {True: "VG", False: "no"}
        draw.text((x + 4, y + thumb + 2), f"{row.transfer}: {Path(row.image).name[:18]}", fill="black")
        draw.text((x + 4, y + thumb + 16),
                  f"V {row.p_vgg19:.2f} {mark[bool(row.vgg19)]}  A {row.p_alexnet:.2f} {mark[bool(row.alexnet)]}",
                  fill="darkgreen" if row.vgg19 and row.alexnet else "black")
    return atomic_save(sheet, path)
