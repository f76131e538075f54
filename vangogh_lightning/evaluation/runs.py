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


def metrics_files(fold_dir: Path) -> list[Path]:
    """A fold's metrics.csv files, one per (re)start, oldest first."""
    def version(path: Path) -> int:
        return int(path.parent.name.removeprefix("version_") or 0)

    return sorted(fold_dir.glob("csv/version_*/metrics.csv"), key=version)


def read_fold_metrics(fold_dir: Path) -> pd.DataFrame:
    """Per-epoch metrics of a fold; after a resume, the later run's rows win for repeated epochs."""
    files = metrics_files(fold_dir)
    if not files:
        raise UserError(f"{fold_dir}: no csv/version_*/metrics.csv; was it trained with train.py?")
    frames = [read_epoch_metrics(f) for f in files]
    merged = pd.concat(frames, ignore_index=True).drop_duplicates("epoch", keep="last")
    return merged.sort_values("epoch").reset_index(drop=True)


def find_fold_runs(roots: list[str | Path]) -> list[FoldRun]:
    """Every finished ``fold_<k>/`` below the given run or multirun folders."""
    runs: list[FoldRun] = []
    for root in roots:
        root = Path(root)
        if not root.exists():
            raise UserError(f"runs={root}: folder not found")
        for summary_path in sorted(root.rglob("fold_*/summary.json")):
            fold_dir = summary_path.parent
            summary = json.loads(summary_path.read_text())
            best = summary.get("best_checkpoint")
            runs.append(FoldRun(
                fold_dir=fold_dir,
                backbone=summary["backbone"],
                fold=int(summary["fold"]),
                best_checkpoint=Path(best) if best else None,
                epochs=read_fold_metrics(fold_dir),
            ))
    if not runs:
        raise UserError(
            f"runs={[str(r) for r in roots]}: no finished folds found (expected fold_<k>/summary.json "
            "written by train.py)"
        )
    return runs
