"""The report's Table 1: share of stylized images judged Van Gogh by each classifier and by both."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from PIL import Image, ImageDraw

from vangogh_lightning.config.schema import BackboneName, choices
from vangogh_lightning.core.errors import UserError
from vangogh_lightning.core.images import atomic_save, expand_images, load_rgb
from vangogh_lightning.style.records import finished_records

# The two classifiers that judge, in the report's order (Table 1's VGG19 row first).
JUDGES = tuple(reversed(choices(BackboneName)))
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


def deception_table(verdicts: pd.DataFrame) -> pd.DataFrame:
    """Rows = condition, columns = transfer backbone, values = share in [0, 1].

    The report's three rows (judged Van Gogh by VGG-19, by AlexNet, by both), then the images only one
    classifier took for Van Gogh and those neither did; the last three add up to one.

    ``verdicts`` has one row per image with columns ``transfer`` and boolean ``vgg19``,
    ``alexnet`` (judged Van Gogh by that classifier).
    """
    rows = {}
    for transfer, group in verdicts.groupby("transfer", sort=False):
        both = group["vgg19"] & group["alexnet"]
        rows[f"{transfer} transfer"] = {
            "VGG19 identified as Van Gogh": group["vgg19"].mean(),
            "AlexNet identified as Van Gogh": group["alexnet"].mean(),
            "Both models agreed": both.mean(),
            "Only one of them": (group["vgg19"] ^ group["alexnet"]).mean(),
            "Neither": (~group["vgg19"] & ~group["alexnet"]).mean(),
            "images": len(group),
        }
    return pd.DataFrame(rows)


def format_percent(table: pd.DataFrame) -> pd.DataFrame:
    """Shares as '25%' strings; the image count stays a number."""
    out = table.copy().astype(object)
    for idx in out.index:
        if idx != "images":
            out.loc[idx] = [f"{100 * v:.0f}%" for v in table.loc[idx]]
        else:
            out.loc[idx] = [int(v) for v in table.loc[idx]]
    out.index.name = "Condition"
    return out


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
