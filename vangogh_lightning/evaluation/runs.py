"""Find cross-validation folds on disk and read their per-epoch metrics."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from vangogh_lightning.errors import UserError

METRICS = ("val/loss", "val/auroc", "val/f1", "val/acc", "val/bal_acc")


@dataclass
class FoldRun:
    """One trained fold: where it is, which backbone, its per-epoch metrics."""

    fold_dir: Path
    backbone: str
    fold: int
    best_checkpoint: Path | None
    epochs: pd.DataFrame  # one row per epoch, columns: epoch, train/loss, val/*


def read_epoch_metrics(csv_path: Path) -> pd.DataFrame:
    """Collapse Lightning's metrics.csv (train and val rows apart) to one row per epoch."""
    try:
        raw = pd.read_csv(csv_path)
    except (pd.errors.EmptyDataError, pd.errors.ParserError) as exc:
        raise UserError(f"{csv_path}: unreadable metrics CSV ({exc})") from None
    if "epoch" not in raw.columns:
        raise UserError(f"{csv_path}: no 'epoch' column; is this a Lightning CSVLogger metrics.csv?")
    cols = [c for c in raw.columns if c.startswith(("val/", "train/"))]
    return raw.groupby("epoch", as_index=False)[cols].mean(numeric_only=True)


def find_fold_runs(roots: list[str | Path]) -> list[FoldRun]:
    """Every ``fold_<k>/metrics.csv`` below the given run or multirun folders."""
    runs: list[FoldRun] = []
    for root in roots:
        root = Path(root)
        if not root.exists():
            raise UserError(f"runs={root}: folder not found")
        for csv_path in sorted(root.rglob("fold_*/metrics.csv")):
            fold_dir = csv_path.parent
            summary_path = fold_dir / "summary.json"
            if not summary_path.is_file():
                continue  # unfinished fold
            summary = json.loads(summary_path.read_text())
            best = summary.get("best_checkpoint")
            runs.append(FoldRun(
                fold_dir=fold_dir,
                backbone=summary["backbone"],
                fold=int(summary["fold"]),
                best_checkpoint=Path(best) if best else None,
                epochs=read_epoch_metrics(csv_path),
            ))
    if not runs:
        raise UserError(
            f"runs={[str(r) for r in roots]}: no finished folds found (expected fold_<k>/metrics.csv "
            "and summary.json written by train.py)"
        )
    return runs
