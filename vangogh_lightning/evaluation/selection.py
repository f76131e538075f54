"""Pick the best fold per backbone from per-epoch validation metrics."""

from __future__ import annotations

import pandas as pd

from vangogh_lightning.errors import UserError
from vangogh_lightning.evaluation.runs import METRICS, FoldRun

RULES = ("auroc", "combined")
_COLUMNS = {"val/loss": "loss", "val/auroc": "auroc", "val/f1": "f1", "val/acc": "acc",
            "val/bal_acc": "bal_acc"}


def best_epochs(runs: list[FoldRun]) -> pd.DataFrame:
    """One row per fold run: its best epoch (by validation AUROC) and that epoch's metrics."""
    rows = []
    for run in runs:
        val = run.epochs.dropna(subset=["val/auroc"]) if "val/auroc" in run.epochs else run.epochs.iloc[:0]
        if val.empty:
            raise UserError(f"{run.fold_dir}: metrics.csv has no val/auroc values")
        best = val.loc[val["val/auroc"].idxmax()]
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
    if rule not in RULES:
        raise UserError(f"rule={rule}: choose one of {', '.join(RULES)}")
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
