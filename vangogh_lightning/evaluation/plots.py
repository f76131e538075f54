"""Figures: per-fold training curves (loss, AUROC, F1 per epoch, like the report's Figures 4-5), Table 1's
rates against the threshold, ROC and precision-recall curves, confusion matrices."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from vangogh_lightning.core.atomic import atomic_write  # noqa: E402
from vangogh_lightning.core.backbone_registry import title_of  # noqa: E402
from vangogh_lightning.evaluation.folds.runs import FoldRun  # noqa: E402

PANELS = (("loss", ("train/loss", "val/loss")), ("AUROC", ("val/auroc",)), ("F1", ("val/f1",)))


def save_figure(fig: Figure, path: Path) -> Path:
    """The figure, its layout tightened, as a PNG at ``path`` (written atomically), then closed."""
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    plt.close(fig)
    return path


def draw_fold_curves(runs: list[FoldRun], backbone: str) -> Figure:
    """A figure with a panel per metric and a line per fold (training dashed with crosses, validation solid with
    dots), on whole scales: epochs on whole numbers, AUROC and F1 from 0 to 1, the loss from 0."""
    fig, axes = plt.subplots(1, len(PANELS), figsize=(5 * len(PANELS), 4))
    last_epoch = max((int(r.epochs["epoch"].max()) for r in runs if len(r.epochs)), default=0)
    for ax, (title, columns) in zip(axes, PANELS):
        highest = 0.0
        for i, run in enumerate(sorted(runs, key=lambda r: r.fold)):
            for col in (c for c in columns if c in run.epochs):
                data = run.epochs.dropna(subset=[col])
                training = col.startswith("train/")
                ax.plot(data["epoch"], data[col], "--" if training else "-", marker="x" if training else "o", ms=4,
                        color=f"C{i % 10}", label=f"fold {run.fold} {'training' if training else 'validation'}")
                highest = max(highest, float(data[col].max()) if len(data) else 0.0)
        ax.set(title=f"{backbone}: {title}", xlabel="epoch", xlim=(-0.5, last_epoch + 0.5),
               ylim=(-0.02, 1.02) if title != "loss" else (0, max(highest, 1e-3) * 1.15))
        ax.set_xticks(range(0, last_epoch + 1, -(-(last_epoch + 1) // 10)))  # whole epochs, ten ticks at most
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return fig


def plot_threshold_curves(curves: pd.DataFrame, kinds: dict[str, str], thresholds: dict[str, float], path: Path
                          ) -> Path:
    """One panel per judge: each set's rate against the threshold (controls dashed), the judge's threshold marked."""
    judges = list(dict.fromkeys(curves["judge"]))
    fig, axes = plt.subplots(1, len(judges), figsize=(6 * len(judges), 4.2), squeeze=False)
    for ax, judge in zip(axes[0], judges):
        for i, (name, group) in enumerate(curves[curves["judge"] == judge].groupby("set", sort=False)):
            style = "--" if kinds.get(name) == "control" else "-"
            ax.plot(group["threshold"], group["rate"], style, color=f"C{i % 10}", label=name, drawstyle="steps-pre")
        ax.axvline(thresholds[judge], color="grey", lw=0.8, ls=":")
        ax.set(title=f"judged by {title_of(judge)}: share called Van Gogh", xlabel="threshold on P(Van Gogh)",
               ylabel="share of images", xlim=(0, 1), ylim=(-0.02, 1.02))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower left")
    return save_figure(fig, path)


def plot_roc_pr(curve_sets: dict[str, dict[str, tuple[list[float], list[float]]]], title: str, path: Path) -> Path:
    """ROC (left) and precision-recall (right) curves, one line per named set (a fold, a test split);
    each set's ``{"roc": (fpr, tpr), "pr": (recall, precision)}`` as :func:`scoring.roc_pr` gives."""
    fig, (roc, pr) = plt.subplots(1, 2, figsize=(10, 4.2))
    for i, (name, curve) in enumerate(curve_sets.items()):
        roc.plot(*curve["roc"], color=f"C{i % 10}", label=name, drawstyle="steps-post")
        pr.plot(*curve["pr"], color=f"C{i % 10}", label=name)
    roc.plot([0, 1], [0, 1], color="grey", lw=0.8, ls=":")
    for ax, (x, y, kind) in zip((roc, pr), (("false positive rate", "true positive rate", "ROC"),
                                            ("recall", "precision", "precision-recall"))):
        ax.set(title=f"{title}: {kind}", xlabel=x, ylabel=y, xlim=(-0.02, 1.02), ylim=(-0.02, 1.02))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right" if kind == "ROC" else "lower left")
    return save_figure(fig, path)


def plot_confusion(counts: dict[str, dict[str, int]], path: Path) -> Path:
    """One 2x2 confusion matrix per named set (``{"tn", "fp", "fn", "tp"}``), counts and row shares shown."""
    fig, axes = plt.subplots(1, len(counts), figsize=(3.6 * len(counts), 3.4), squeeze=False)
    for ax, (name, c) in zip(axes[0], counts.items()):
        grid = np.array([[c["tn"], c["fp"]], [c["fn"], c["tp"]]], dtype=float)
        shares = grid / np.maximum(grid.sum(axis=1, keepdims=True), 1)
        ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
        for (r, k), value in np.ndenumerate(grid):
            ax.text(k, r, f"{int(value)}\n{shares[r, k]:.0%}", ha="center", va="center",
                    color="white" if shares[r, k] > 0.5 else "black", fontsize=9)
        ax.set(title=name, xticks=[0, 1], yticks=[0, 1], xticklabels=["other", "Van Gogh"],
               yticklabels=["other", "Van Gogh"], xlabel="predicted", ylabel="painted by")
    return save_figure(fig, path)


def plot_reliability(bins: dict[str, pd.DataFrame], quality: dict, path: Path) -> Path:
    """A reliability diagram per judge: share of Van Gogh against mean P(Van Gogh) per bin (dot area: images),
    the diagonal of perfect calibration, and the judge's ECE."""
    fig, axes = plt.subplots(1, len(bins), figsize=(4.4 * len(bins), 4.2), squeeze=False)
    for ax, (judge, table) in zip(axes[0], bins.items()):
        ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls=":", label="perfectly calibrated")
        ax.plot(table["mean_p"], table["van_gogh"], "-", color="C0", lw=1)
        ax.scatter(table["mean_p"], table["van_gogh"], s=20 + 200 * table["images"] / table["images"].sum(),
                   color="C0", label="bins of P (area: images)", zorder=3)
        ax.set(title=f"{title_of(judge)} out of fold: ECE {quality[judge].ece:.3f}", xlabel="mean P(Van Gogh) in bin",
               ylabel="share that are Van Gogh", xlim=(-0.02, 1.02), ylim=(-0.02, 1.02), aspect="equal")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper left")
    return save_figure(fig, path)
