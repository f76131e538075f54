"""Pick the best fold per backbone from per-epoch validation metrics."""

from __future__ import annotations

import pandas as pd

from vangogh_lightning.config.schema import SelectionRule, choices
from vangogh_lightning.core.errors import UserError
from vangogh_lightning.evaluation.fold_runs import FoldRun
from vangogh_lightning.models.metric_names import METRICS

_COLUMNS = {"val/loss": "loss", "val/auroc": "auroc", "val/f1": "f1", "val/acc": "acc",
            "val/bal_acc": "bal_acc"}


def best_epochs(runs: list[FoldRun]) -> pd.DataFrame:
    """One row per fold run: its best epoch and that epoch's metrics.

    The best epoch is chosen as training chose it (the run's ``monitor.metric`` and mode: validation
    AUROC by default, validation loss in the report's reproduction), so it is the epoch whose weights
    the fold's best checkpoint holds.
    """
    rows = []
    for run in runs:
        # (runs from before the monitor was recorded, or whose monitor was never logged: by AUROC)
        metric, mode = (run.monitor, run.mode) if run.monitor in run.epochs else ("val/auroc", "max")
        val = run.epochs.dropna(subset=[metric]) if metric in run.epochs else run.epochs.iloc[:0]
        if val.empty:
            raise UserError(f"{run.fold_dir}: metrics.csv has no {metric} values")
        best = val.loc[val[metric].idxmax() if mode == "max" else val[metric].idxmin()]
        row = {"backbone": run.backbone, "fold": run.fold, "best_epoch": int(best["epoch"])}
        row.update({_COLUMNS[m]: float(best[m]) if m in best else float("nan") for m in METRICS})
        row["checkpoint"] = str(run.best_checkpoint) if run.best_checkpoint else ""
        row["run"] = str(run.fold_dir)
        rows.append(row)
    return pd.DataFrame(rows).sort_values(["backbone", "fold", "run"]).reset_index(drop=True)


def select_fold(table: pd.DataFrame, rule: str) -> int:
    """Row index of the selected fold within ``table`` (one backbone's rows).

    ``auroc``: highest AUROC. ``combined``: best mean rank over AUROC (high), F1 (high) and
    validation loss (low), ties broken by AUROC - the balance the report describes.
    """
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
    metrics = ["loss", "auroc", "f1", "acc", "bal_acc"]
    grouped = table.groupby("backbone")[metrics]
    mean, std = grouped.mean(), grouped.std(ddof=0)
    return pd.DataFrame({m: [f"{mean.loc[b, m]:.4f} ± {std.loc[b, m]:.4f}" for b in mean.index]
                         for m in metrics}, index=mean.index)


def choose_model(rows: pd.DataFrame, backbone: str) -> tuple[pd.DataFrame, list[str]]:
    """The fold rows of one model of ``backbone``, and notes on why.

    Folds of different models (search trials, runs with other settings) are never mixed: with
    several candidates the one with the best mean AUROC over its folds is taken (the best trial's
    folds). Two runs of the same model that both hold a fold are ambiguous and refused.
    """
    notes = []
    models = rows.groupby("model", sort=False)
    for _model, group in models:
        repeated = group[group["fold"].duplicated(keep=False)]
        if not repeated.empty:
            fold = int(repeated["fold"].iloc[0])
            dirs = ", ".join(sorted(set(repeated.loc[repeated["fold"] == fold, "run"])))
            raise UserError(
                f"task.runs: {backbone} fold {fold} was trained twice with the same settings ({dirs}); "
                "pass task.runs= the one run (or multirun) folder to select from"
            )
    if models.ngroups == 1:
        return rows, notes
    means = rows.groupby("model", sort=False)["auroc"].mean().sort_values(ascending=False)
    best = means.index[0]
    notes.append(f"{backbone}: {models.ngroups} different models (e.g. search trials) in task.runs; selecting "
                 f"among the folds of the one with the best mean AUROC {means.iloc[0]:.4f} "
                 f"[{best or 'defaults'}]; the others are not mixed in")
    return rows[rows["model"] == best], notes


def missing_folds(rows: pd.DataFrame, num_folds: int | None) -> list[int]:
    """Folds a K-fold model lacks (None when K is unknown)."""
    if not num_folds:
        return []
    return sorted(set(range(int(num_folds))) - set(rows["fold"].astype(int)))
