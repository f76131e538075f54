"""The training run behind a judge: its folds' classifiers and out-of-fold predictions (with notes on what is
missing), and every fold's classifier as a judge: how much each rate depends on the fold selection picked."""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from vangogh_lightning.core.backbone_registry import title_of
from vangogh_lightning.evaluation.folds.runs import resolve_checkpoint
from vangogh_lightning.evaluation.scoring import classify_table
from vangogh_lightning.training.run_folder import OOF_FILE, SUMMARY


@dataclass
class JudgeRun:
    """The folds of the run a judge was selected from: (fold, best checkpoint) and out-of-fold files."""

    judge: str
    run_dir: Path | None
    checkpoints: list[tuple[int, Path]] = field(default_factory=list)
    oof_files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    own_oof: Path | None = None  # the out-of-fold predictions of the judge's own fold (its validation paintings)


def source_checkpoint(classifier: Path) -> Path:
    """The fold checkpoint a classifier file came from (a selection's ``<backbone>.json`` says), else itself."""
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        return Path(json.loads(classifier.with_suffix(".json").read_text())["source"])
    return classifier


def judge_run(judge: str, classifier: str | Path) -> JudgeRun:
    """The run folder behind ``classifier`` and every fold of it that is a ``judge`` fold."""
    source = source_checkpoint(Path(classifier).expanduser())
    fold_dir = source.parent.parent
    if source.parent.name != "checkpoints" or not (fold_dir / SUMMARY).is_file():
        return JudgeRun(judge, None, notes=[
            f"task.classifiers.{judge}={classifier}: not a fold checkpoint of train.py (nor a selection of one), "
            "so its other folds and out-of-fold predictions are unknown; fold spread and out-of-fold controls "
            f"leave {judge} out"])
    run = JudgeRun(judge, fold_dir.parent, own_oof=fold_dir / OOF_FILE if (fold_dir / OOF_FILE).is_file() else None)
    for summary_path in sorted(run.run_dir.glob(f"fold_*/{SUMMARY}")):
        folder = summary_path.parent
        summary = json.loads(summary_path.read_text())
        if summary.get("backbone") != judge:
            run.notes.append(f"{summary_path}: a {summary.get('backbone')} fold in the {judge} judge's run; left out")
            continue
        checkpoint = resolve_checkpoint(folder, summary.get("best_checkpoint"))
        if checkpoint is None or not checkpoint.is_file():
            run.notes.append(f"{folder}: its best checkpoint {checkpoint or '(none kept)'} is missing; left out of "
                             "the fold spread")
        else:
            run.checkpoints.append((int(summary["fold"]), checkpoint))
        if (folder / OOF_FILE).is_file():
            run.oof_files.append(folder / OOF_FILE)
        else:
            run.notes.append(f"{folder / OOF_FILE}: missing; the out-of-fold controls leave fold "
                             f"{summary['fold']}'s paintings out")
    if len(run.checkpoints) < 2:
        run.notes.append(f"{run.run_dir}: {len(run.checkpoints)} {judge} fold classifier(s); the fold spread needs "
                         "two or more (train every fold: fold=null)")
    return run


def out_of_fold_frame(run: JudgeRun) -> pd.DataFrame:
    """The run's out-of-fold predictions: each painting scored by the fold that never trained on it."""
    frames = [pd.read_csv(path) for path in run.oof_files]
    if not frames:
        return pd.DataFrame(columns=["filename", "path", "artist", "label", "fold", "p_van_gogh"])
    return pd.concat(frames, ignore_index=True)


def judge_with_every_fold(run: JudgeRun, frame: pd.DataFrame, task: Any, threshold: float, device: str
                          ) -> list[tuple[str, int, pd.DataFrame]]:
    """(judge, fold, verdicts) of each fold classifier of ``run`` on ``frame``'s images at ``threshold``, one
    in memory at a time; the selected fold's verdicts (column ``<judge>``) are reused."""
    from vangogh_lightning.models.checkpoints import load_classifier

    out = []
    chosen = source_checkpoint(Path(task.classifiers[run.judge]).expanduser()).resolve()
    for fold, checkpoint in run.checkpoints:
        if checkpoint.resolve() == chosen:
            verdicts = frame[run.judge].to_numpy()
        else:
            model, size = load_classifier(checkpoint, key=f"{run.run_dir} fold {fold}", expect_backbone=run.judge)
            verdicts = classify_table(model, [Path(p) for p in frame["image"]], size, threshold, task.batch_size,
                                      device)["van_gogh"].to_numpy()
            del model
        out.append((run.judge, fold, pd.DataFrame({"set": frame["set"].to_numpy(), "van_gogh": verdicts})))
    return out


def fold_rates(per_fold: list[tuple[str, int, pd.DataFrame]]) -> pd.DataFrame:
    """One row per (judge, fold, image set) of ``per_fold``'s verdicts (``van_gogh``): ``k`` of ``n``, share."""
    if not per_fold:
        return pd.DataFrame(columns=["judge", "fold", "set", "k", "n", "share"])
    verdicts = pd.concat([frame[["set"]].assign(judge=judge, fold=fold, van_gogh=frame["van_gogh"].astype(bool))
                          for judge, fold, frame in per_fold], ignore_index=True)
    return (verdicts.groupby(["judge", "fold", "set"], sort=False)["van_gogh"]
            .agg(k="sum", n="size", share="mean").reset_index())


def fold_spread(rates: pd.DataFrame) -> pd.DataFrame:
    """Per (judge, image set) judged by two or more folds: their number, mean ± sd and min–max of the rate
    (also as text: ``mean ± sd``, ``min–max``)."""
    spread = (rates.groupby(["judge", "set"], sort=False)["share"]
              .agg(folds="size", mean="mean", sd="std", min="min", max="max").reset_index())
    spread = spread[spread["folds"] >= 2].reset_index(drop=True)
    return spread.assign(judge=spread["judge"].map(title_of),
                         **{"mean ± sd": [f"{m:.0%} ± {s:.0%}" for m, s in zip(spread["mean"], spread["sd"])],
                            "min–max": [f"{a:.0%}–{b:.0%}" for a, b in zip(spread["min"], spread["max"])]})
