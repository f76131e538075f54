"""Per-fold training curves (loss, AUROC, F1 per epoch), like the report's Figures 4-5."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from vangogh_lightning.core.atomic import atomic_write  # noqa: E402
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
