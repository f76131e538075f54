"""Find cross-validation folds on disk and read their per-epoch metrics."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml

from vangogh_lightning.config.schema import WHETHER_ON, results_mark
from vangogh_lightning.core.errors import UserError
from vangogh_lightning.training.run_folder import FAILED, SUMMARY


@dataclass
class FoldRun:
    """One trained fold: where it is, which backbone and model, its per-epoch metrics."""

    fold_dir: Path
    backbone: str
    fold: int
    best_checkpoint: Path | None
    epochs: pd.DataFrame  # one row per epoch, columns: epoch, train/loss, val/*
    model: str = ""       # what was trained, apart from the fold (e.g. a search trial's parameters)
    num_folds: int | None = None
    monitor: str = "val/auroc"  # how its best epoch (and best checkpoint) was chosen
    mode: str = "max"
    data: str = ""  # the digest of the data record it was trained on ("": before runs recorded their data)
    debug: tuple[str, ...] = ()  # the trainer settings that made it see part of its data (a debug run)
    # the 95 % DeLong interval of its out-of-fold AUROC, as training recorded it (None: a run older than that)
    oof_interval: tuple[float, float] | None = None


def recorded_interval(summary: dict) -> tuple[float, float] | None:
    """The out-of-fold AUROC interval a fold's summary records (a fold without both classes records none:
    NaN), or None for a summary older than that record."""
    if "oof/auroc" not in summary:
        return None
    return (float(summary.get("oof/auroc_low", math.nan)), float(summary.get("oof/auroc_high", math.nan)))


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
    return sorted(fold_dir.glob("csv/version_*/metrics.csv"),
                  key=lambda path: int(path.parent.name.removeprefix("version_") or 0))


def read_fold_metrics(fold_dir: Path) -> pd.DataFrame:
    """Per-epoch metrics of a fold; after a resume, the later run's rows win for repeated epochs."""
    files = metrics_files(fold_dir)
    if not files:
        raise UserError(f"{fold_dir}: no csv/version_*/metrics.csv; was it trained with train.py?")
    merged = pd.concat(map(read_epoch_metrics, files), ignore_index=True).drop_duplicates("epoch", keep="last")
    return merged.sort_values("epoch").reset_index(drop=True)


def non_finite_entry(fold_dir: Path) -> str | None:
    """The first NaN or infinite value a fold logged ("train/loss is nan at epoch 0"), if any; read as text,
    as pandas would read a logged ``nan`` and a metric not logged on a row alike."""
    for path in metrics_files(fold_dir):
        raw = pd.read_csv(path, dtype=str, keep_default_na=False)
        for column in (c for c in raw.columns if c.startswith(("val/", "train/"))):
            bad = raw[column].str.strip().str.lower().isin(["nan", "inf", "-inf", "+inf"])
            if bad.any():
                row = raw[bad].iloc[0]
                return f"{column} is {row[column]} at epoch {row.get('epoch', '?')}"
    return None


def run_identity(run_dir: Path) -> tuple[str, int | None]:
    """(the run's command-line overrides apart from fold/resume/paths, and the caches it ran without: the same
    for the folds of one model, or for every run without Hydra's record; its number of folds). A cache's folder
    is not part of it (:data:`~vangogh_lightning.config.schema.WHETHER_ON`)."""
    overrides_file = run_dir / ".hydra" / "overrides.yaml"
    overrides = yaml.safe_load(overrides_file.read_text()) or [] if overrides_file.is_file() else []
    kept = sorted(o for o in overrides if results_mark(o.lstrip("+~").split("=", 1)[0]) is True)
    config_file = run_dir / ".hydra" / "config.yaml"
    config = (yaml.safe_load(config_file.read_text()) or {}) if config_file.is_file() else {}
    data = config.get("data") or {}
    kept += [f"data.{key}=false" for key, value in data.items()
             if not value and results_mark(f"data.{key}") == WHETHER_ON]
    return " ".join(kept), data.get("num_folds")


def resolve_checkpoint(fold_dir: Path, recorded: str | None) -> Path | None:
    """A summary's best checkpoint: relative to the fold folder (or an older absolute path)."""
    if not recorded:
        return None
    path = Path(recorded)
    if not path.is_absolute():
        return fold_dir / path
    return path if path.exists() else fold_dir / "checkpoints" / path.name  # the run folder was moved


def data_records(runs: list[FoldRun]) -> dict[str, dict[str, list] | None]:
    """The data record of one fold per distinct data digest, by fold folder (read from its best checkpoint)."""
    from vangogh_lightning.data.record import checkpoint_record

    firsts = {run.data: run for run in reversed(runs) if run.data and run.best_checkpoint}
    return {str(r.fold_dir): checkpoint_record(r.best_checkpoint, "task.runs") for r in reversed(firsts.values())}


def find_fold_runs(roots: str | Path | list[str | Path]) -> tuple[list[FoldRun], list[str]]:
    """Every finished ``fold_<k>/`` below the given run or multirun folder(s), and warnings about
    fold folders that never finished (interrupted, or still training)."""
    roots = [roots] if isinstance(roots, (str, Path)) else list(roots)
    runs, warnings = [], []
    for root in map(Path, roots):
        if not root.exists():
            raise UserError(f"runs={root}: folder not found")
        for fold_dir in sorted(p for p in root.rglob("fold_*") if p.is_dir()):
            summary_path = fold_dir / SUMMARY
            if not summary_path.is_file():
                failed = fold_dir / FAILED
                warnings.append(f"{fold_dir}: left out: {failed.read_text().strip()}" if failed.is_file() else
                                f"{fold_dir}: not finished (no summary.json; interrupted or still training), "
                                "left out")
                continue
            diverged = non_finite_entry(fold_dir)
            if diverged is not None:  # recorded as finished by a version without the non-finite checks
                warnings.append(f"{fold_dir}: diverged ({diverged}), left out; train it again")
                continue
            summary = json.loads(summary_path.read_text())
            runs.append(FoldRun(fold_dir, summary["backbone"], int(summary["fold"]),
                                resolve_checkpoint(fold_dir, summary.get("best_checkpoint")),
                                read_fold_metrics(fold_dir), *run_identity(fold_dir.parent),
                                monitor=summary.get("monitor", "val/auroc"), mode=summary.get("mode", "max"),
                                data=summary.get("data", ""), debug=tuple(summary.get("debug", ())),
                                oof_interval=recorded_interval(summary)))
    if not runs:
        raise UserError(f"runs={[str(r) for r in roots]}: no finished folds found (expected fold_<k>/summary.json "
                        "written by train.py)")
    return runs, warnings
