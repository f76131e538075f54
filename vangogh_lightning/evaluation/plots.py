"""Figures: per-fold training curves (loss, AUROC, F1 per epoch, like the report's Figures 4-5) and
Table 1's rates against the threshold."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from vangogh_lightning.core.atomic import atomic_write  # noqa: E402
from vangogh_lightning.core.backbone_registry import title_of  # noqa: E402
from vangogh_lightning.evaluation.fold_runs import FoldRun  # noqa: E402

PANELS = (("loss", ("train/loss", "val/loss")), ("AUROC", ("val/auroc",)), ("F1", ("val/f1",)))


def draw_fold_curves(runs: list[FoldRun], backbone: str) -> Figure:
    """A figure with a panel per metric and a line per fold (dashed: training), epochs on whole numbers."""
    fig, axes = plt.subplots(1, len(PANELS), figsize=(5 * len(PANELS), 4))
    for ax, (title, columns) in zip(axes, PANELS):
        for i, run in enumerate(sorted(runs, key=lambda r: r.fold)):
            for col in columns:
                if col not in run.epochs:
                    continue
                data = run.epochs.dropna(subset=[col])
                style = "--" if col.startswith("train/") else "-"
                ax.plot(data["epoch"], data[col], style, marker="o", ms=3, color=f"C{i % 10}",
                        label=f"fold {run.fold} {col.split('/')[0]}")
        ax.set_title(f"{backbone}: {title}")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_fold_curves(runs: list[FoldRun], backbone: str, path: Path) -> Path:
    """Save the fold curves of ``backbone`` as one PNG."""
    fig = draw_fold_curves(runs, backbone)
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    plt.close(fig)
    return path


def threshold_curves(verdicts: pd.DataFrame, judges: tuple[str, ...], steps: int = 101) -> pd.DataFrame:
    """Share of each image set judged Van Gogh (P >= threshold) per judge, at ``steps`` thresholds over
    [0, 1] and at every probability that occurs (where the step function changes): columns judge,
    set, threshold, rate."""
    rows = []
    for judge in judges:
        for name, group in verdicts.groupby("set", sort=False):
            probs = np.sort(group[f"p_{judge}"].to_numpy(dtype=float))
            thresholds = np.union1d(np.linspace(0.0, 1.0, steps), probs)
            rates = 1.0 - np.searchsorted(probs, thresholds, side="left") / len(probs)
            rows.append(pd.DataFrame({"judge": judge, "set": name, "threshold": thresholds, "rate": rates}))
    return pd.concat(rows, ignore_index=True)


def plot_threshold_curves(curves: pd.DataFrame, kinds: dict[str, str], threshold: float, path: Path) -> Path:
    """One panel per judge: each set's rate against the threshold (controls dashed), the chosen threshold marked."""
    judges = list(dict.fromkeys(curves["judge"]))
    fig, axes = plt.subplots(1, len(judges), figsize=(6 * len(judges), 4.2), squeeze=False)
    for ax, judge in zip(axes[0], judges):
        for i, (name, group) in enumerate(curves[curves["judge"] == judge].groupby("set", sort=False)):
            style = "--" if kinds.get(name) == "control" else "-"
            ax.plot(group["threshold"], group["rate"], style, color=f"C{i % 10}", label=name, drawstyle="steps-pre")
        ax.axvline(threshold, color="grey", lw=0.8, ls=":")
        ax.set_title(f"judged by {title_of(judge)}: share called Van Gogh")
        ax.set_xlabel("threshold on P(Van Gogh)")
        ax.set_ylabel("share of images")
        ax.set_xlim(0, 1)
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    plt.close(fig)
    return path


def plot_roc_pr(curve_sets: dict[str, dict[str, tuple[list[float], list[float]]]], title: str, path: Path) -> Path:
    """ROC (left) and precision-recall (right) curves, one line per named set (a fold, a test split);
    each set's ``{"roc": (fpr, tpr), "pr": (recall, precision)}`` as :func:`curves.roc_pr` gives."""
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
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    plt.close(fig)
    return path


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
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    plt.close(fig)
    return path
