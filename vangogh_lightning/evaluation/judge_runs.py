"""The training run behind a judge (a selected or fold checkpoint): its folds' classifiers and their
out-of-fold predictions, with a note for anything that is missing or does not belong."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from vangogh_lightning.evaluation.fold_runs import resolve_checkpoint
from vangogh_lightning.training.run_folder import OOF_FILE, SUMMARY


@dataclass
class JudgeRun:
    """The folds of the run a judge was selected from: (fold, best checkpoint) and out-of-fold files."""

    judge: str
    run_dir: Path | None
    checkpoints: list[tuple[int, Path]] = field(default_factory=list)
    oof_files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def source_checkpoint(classifier: Path) -> Path:
    """The fold checkpoint a classifier file came from: the selection record beside a selected
    checkpoint (``<backbone>.json``) says; any other file is its own source."""
    record = classifier.with_suffix(".json")
    if record.is_file():
        try:
            return Path(json.loads(record.read_text())["source"])
        except (OSError, ValueError, KeyError, TypeError):
            pass
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
    run = JudgeRun(judge, fold_dir.parent)
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


def judge_with_every_fold(run: JudgeRun, images: pd.DataFrame, threshold: float, batch_size: int, device: str,
                          selected: Path, selected_verdicts: pd.Series) -> list[tuple[str, int, pd.DataFrame]]:
    """(judge, fold, verdicts) for each fold classifier of ``run`` on ``images`` (columns set, image),
    one classifier in memory at a time; the selected fold's verdicts are reused, not computed again."""
    from vangogh_lightning.evaluation.classify import classify_table
    from vangogh_lightning.models.checkpoints import load_classifier

    out = []
    chosen = source_checkpoint(selected).resolve()
    for fold, checkpoint in run.checkpoints:
        if checkpoint.resolve() == chosen:
            verdicts = selected_verdicts.to_numpy()
        else:
            model, size = load_classifier(checkpoint, key=f"{run.run_dir} fold {fold}", expect_backbone=run.judge)
            scored = classify_table(model, [Path(p) for p in images["image"]], size, threshold, batch_size, device)
            verdicts = scored["van_gogh"].to_numpy()
            del model
        out.append((run.judge, fold, pd.DataFrame({"set": images["set"].to_numpy(), "van_gogh": verdicts})))
    return out
