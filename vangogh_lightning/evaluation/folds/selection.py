"""Pick the best fold per backbone from per-epoch validation metrics, and keep its checkpoint at a
stable path, weights only."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pandas as pd

from vangogh_lightning.config.schema import SelectionRule, choices
from vangogh_lightning.core.atomic import atomic_link, atomic_write, remove_stale_temps
from vangogh_lightning.core.errors import UserError
from vangogh_lightning.core.torch_files import load_torch_file
from vangogh_lightning.evaluation.folds.runs import FoldRun
from vangogh_lightning.evaluation.judges import REPORT_THRESHOLD, assess, chance_warning, delong_interval
from vangogh_lightning.models.metric_names import METRICS
from vangogh_lightning.training.run_folder import OOF_FILE


def best_epochs(runs: list[FoldRun]) -> pd.DataFrame:
    """One row per fold run: its best epoch (by the run's ``monitor.metric`` and mode, as training chose its best
    checkpoint) and that epoch's metrics, and the run's model (see :func:`choose_model`)."""
    rows = []
    for run in runs:
        # (runs from before the monitor was recorded, or whose monitor was never logged: by AUROC)
        metric, mode = (run.monitor, run.mode) if run.monitor in run.epochs else ("val/auroc", "max")
        val = run.epochs.dropna(subset=[metric]) if metric in run.epochs else run.epochs.iloc[:0]
        if val.empty:
            raise UserError(f"{run.fold_dir}: metrics.csv has no {metric} values")
        best = val.loc[val[metric].idxmax() if mode == "max" else val[metric].idxmin()]
        low, high = run.oof_interval or interval_from_file(run)
        rows.append({"backbone": run.backbone, "fold": run.fold, "best_epoch": int(best["epoch"]),
                     **{m.removeprefix("val/"): float(best[m]) if m in best else float("nan") for m in METRICS},
                     "auroc_low": low, "auroc_high": high,
                     "checkpoint": str(run.best_checkpoint) if run.best_checkpoint else "", "run": str(run.fold_dir),
                     "model": run.model})
    return pd.DataFrame(rows).sort_values(["backbone", "fold", "run"]).reset_index(drop=True)


def out_of_fold(run: FoldRun) -> pd.DataFrame | None:
    """The fold's out-of-fold predictions (its validation images scored by its best weights), if it kept them."""
    path = run.fold_dir / OOF_FILE
    return pd.read_csv(path) if path.is_file() else None


def interval_from_file(run: FoldRun) -> tuple[float, float]:
    """The out-of-fold AUROC interval of a run older than its summary's record, from its predictions file."""
    oof = out_of_fold(run)
    return delong_interval(oof["p_van_gogh"], oof["label"])[1:] if oof is not None else (math.nan, math.nan)


def chance_note(run: FoldRun, backbone: str) -> str:
    """The flag of a selected fold that is no better than chance on its out-of-fold predictions ('' if it is)."""
    oof = out_of_fold(run)
    return "" if oof is None else chance_warning(f"selected {backbone}", assess(oof, REPORT_THRESHOLD))


def select_fold(table: pd.DataFrame, rule: str) -> int:
    """Row index of the selected fold within ``table`` (one backbone's rows). ``auroc``: highest AUROC;
    ``combined``: best mean rank over AUROC (high), F1 (high) and validation loss (low), ties by AUROC."""
    if rule not in choices(SelectionRule):  # a direct call; the scripts' configs are checked before
        raise UserError(f"rule={rule}: choose one of {', '.join(choices(SelectionRule))}")
    if rule == "auroc":
        return int(table["auroc"].idxmax())
    ranks = (table["auroc"].rank(ascending=False) + table["f1"].rank(ascending=False)
             + table["loss"].rank(ascending=True)) / 3
    order = pd.DataFrame({"rank": ranks, "auroc": -table["auroc"]}).sort_values(["rank", "auroc"])
    return int(order.index[0])


def summarise(table: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation across folds, per backbone."""
    grouped = table.groupby("backbone")[[m.removeprefix("val/") for m in METRICS]]
    return grouped.mean().map("{:.4f}".format) + " ± " + grouped.std(ddof=0).map("{:.4f}".format)


def choose_model(rows: pd.DataFrame, backbone: str, num_folds: dict[str, int | None]) -> tuple[pd.DataFrame, list[str]]:
    """The fold rows of one model of ``backbone`` (the one with the best mean AUROC; models are never mixed),
    index reset, and notes on why and on the folds it lacks (``num_folds``: K per fold folder, or None);
    two runs of the same model that both hold a fold are refused."""
    notes = []
    models = rows.groupby("model", sort=False)
    for _model, group in models:
        repeated = group[group["fold"].duplicated(keep=False)]
        if not repeated.empty:
            fold = int(repeated["fold"].iloc[0])
            dirs = ", ".join(sorted(set(repeated.loc[repeated["fold"] == fold, "run"])))
            raise UserError(f"task.runs: {backbone} fold {fold} was trained twice with the same settings ({dirs}); "
                            "pass task.runs= the one run (or multirun) folder to select from")
    if models.ngroups > 1:
        means = models["auroc"].mean().sort_values(ascending=False)
        best = means.index[0]
        notes.append(f"{backbone}: {models.ngroups} different models (e.g. search trials) in task.runs; selecting "
                     f"among the folds of the one with the best mean AUROC {means.iloc[0]:.4f} "
                     f"[{best or 'defaults'}]; the others are not mixed in")
        rows = rows[rows["model"] == best].reset_index(drop=True)
    k = num_folds.get(rows["run"].iloc[0])
    absent = sorted(set(range(int(k or 0))) - set(rows["fold"].astype(int)))
    if absent:
        notes.append(f"{backbone}: fold(s) {', '.join(map(str, absent))} of {k} missing; the mean below is over "
                     f"{len(rows)} fold(s)")
    return rows, notes


def write_selected(source: Path, target: Path, link: bool) -> str:
    """The selected checkpoint at a stable path, weights only; returns how it was written."""
    import torch

    remove_stale_temps(target.parent)  # left by an interrupted earlier selection
    if link:
        atomic_link(source, target, symbolic=True)
        return "symlink"
    raw = load_torch_file(source, "task.runs", "checkpoint", mmap=True)
    heavy = ("optimizer_states", "lr_schedulers", "callbacks")
    if any(k in raw for k in heavy):  # a full checkpoint (older runs): keep the weights only
        slim = {k: v for k, v in raw.items() if k not in heavy}
        atomic_write(target, lambda tmp: torch.save(slim, tmp))
        return "weights-only copy"
    try:  # already weights only: a hard link costs no disk and survives deleting the run
        atomic_link(source, target, symbolic=False)
        return "hard link"
    except OSError:
        atomic_write(target, lambda tmp: shutil.copyfile(source, tmp))
        return "copy"
