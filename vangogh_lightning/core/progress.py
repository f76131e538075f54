"""Progress that reads well in a log file (SLURM, CI, ``nohup``), where Lightning's bar shows nothing for
minutes: a line every ``every_s`` seconds and one per epoch, with images/s and upper bounds (every epoch up
to ``trainer.max_epochs`` runs) of how long the fold and the whole cross-validation run may still take."""

from __future__ import annotations

import math
import sys
import time
from typing import Any, Literal

import lightning as L

from vangogh_lightning.core.console import rank_zero_print


def duration(seconds: float) -> str:
    """``42s``, ``3m10s``, ``2h05m``: short enough for a progress line."""
    if not math.isfinite(seconds):
        return "?"
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def _batch_size(batch: Any) -> int:
    first = batch[0] if isinstance(batch, (list, tuple)) else batch
    return len(first) if hasattr(first, "__len__") else 1


class LogProgress(L.Callback):
    """Progress lines for a log (``when=auto``: when stdout is not a terminal or the bar is off)."""

    def __init__(self, every_s: float = 30.0, when: Literal["auto", "always", "never"] = "auto"):
        if when not in ("auto", "always", "never"):
            raise ValueError(f"when={when}: must be auto, always or never")
        self.every_s, self.when = float(every_s), when
        self.fold, self.position, self.count = 0, 0, 1  # fold `position` (0-based) of `count` in this command
        self.active = False
        self.val_images_per_s: float | None = None  # the last validation's speed: the out-of-fold pass's too
        self.start = self.last_line = self.epoch_start = time.monotonic()
        self.first_step, self.images, self.train_s, self.epoch_val_s = 0, 0, 0.0, 0.0
        self.val_epochs_s: list[float] = []

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        bar = trainer.progress_bar_callback is not None
        self.active = self.when == "always" or (self.when == "auto" and (not bar or not sys.stdout.isatty()))

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.start = self.last_line = self.epoch_start = time.monotonic()
        self.first_step = trainer.global_step  # a resumed fit starts part-way
        self.images, self.train_s = 0, 0.0  # (train_s: time in training steps, validation excluded)
        self.val_epochs_s = []

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.epoch_start = time.monotonic()
        self.epoch_val_s = 0.0

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        self.images += _batch_size(batch)
        now = time.monotonic()
        if self.active and now - self.last_line >= self.every_s:
            self.last_line = now
            steps = trainer.num_training_batches  # (inf until Lightning knows it)
            shown = steps if math.isfinite(steps) else "?"
            self._print(trainer, f"{self._epoch(trainer)} step {batch_idx + 1}/{shown}")

    def on_validation_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.val_start, self.val_images = time.monotonic(), 0

    def on_validation_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                                batch_idx: int, dataloader_idx: int = 0) -> None:
        self.val_images += _batch_size(batch)

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        spent = time.monotonic() - self.val_start
        self.epoch_val_s += spent
        self.val_epochs_s.append(spent)
        if spent > 0 and self.val_images:
            self.val_images_per_s = self.val_images / spent

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.train_s += time.monotonic() - self.epoch_start - self.epoch_val_s
        if not self.active:
            return
        metrics = trainer.callback_metrics
        shown = ", ".join(f"{k} {float(metrics[k]):.4f}" for k in ("train/loss", "val/loss", "val/auroc")
                          if k in metrics)
        self.last_line = time.monotonic()
        self._print(trainer, f"{self._epoch(trainer)} done" + (f": {shown}" if shown else ""))

    @staticmethod
    def _epoch(trainer: L.Trainer) -> str:
        """'epoch 1 (2 of 3)': epochs are named by Lightning's 0-based index (as folds, metrics.csv, best_epoch and
        W&B name them); the count in brackets."""
        total = str(trainer.max_epochs) if trainer.max_epochs and trainer.max_epochs > 0 else "?"
        return f"epoch {trainer.current_epoch} ({trainer.current_epoch + 1} of {total})"

    def fold_seconds_left(self, trainer: L.Trainer) -> float:
        """At most how long the fit still takes (every epoch up to max_epochs), its out-of-fold pass included."""
        done = trainer.global_step - self.first_step
        total = trainer.estimated_stepping_batches
        if done <= 0 or not math.isfinite(total):
            return math.inf
        now = time.monotonic()
        per_step = (self.train_s + now - self.epoch_start - self.epoch_val_s) / done
        val_epoch = sum(self.val_epochs_s) / len(self.val_epochs_s) if self.val_epochs_s else 0.0
        val_passes_left = max(0, (trainer.max_epochs or 0) - trainer.current_epoch) + 1
        return max(0, total - trainer.global_step) * per_step + val_passes_left * val_epoch

    def _print(self, trainer: L.Trainer, where: str) -> None:
        now = time.monotonic()
        images_per_s = self.images / max(now - self.start, 1e-9)
        left = self.fold_seconds_left(trainer)
        folds_after = self.count - self.position - 1
        whole = f" | run left <= {duration(left + folds_after * (now - self.start + left))}" if folds_after else ""
        rank_zero_print(f"[fold {self.fold}, {self.position + 1} of {self.count}] {where} | {images_per_s:.1f} img/s | "
                        f"fold left <= {duration(left)}{whole}", flush=True)
