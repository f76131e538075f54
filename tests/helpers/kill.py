"""A callback that signals its own process, to test resuming after a hard kill or a SIGTERM."""

from __future__ import annotations

import os
import signal

import lightning as L


class KillAtEpochStart(L.Callback):
    """Send ``signal_name`` (default SIGKILL) to the process when epoch ``epoch`` starts (the previous
    epoch's checkpoints exist)."""

    def __init__(self, epoch: int, signal_name: str = "SIGKILL"):
        self.epoch, self.signal = epoch, getattr(signal, signal_name)

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.current_epoch == self.epoch:
            os.kill(os.getpid(), self.signal)


class SignalGroupAt(L.Callback):
    """Send ``signal_name`` to the whole process group (as SLURM's time limit, ``scancel`` and ``timeout`` do) after
    batch ``batch`` of epoch 0's training or validation (``during``), once."""

    def __init__(self, during: str, signal_name: str, batch: int = 1):
        self.during, self.signal, self.batch, self.sent = during, getattr(signal, signal_name), batch, False

    def _maybe(self, trainer: L.Trainer, batch_idx: int) -> None:
        if not self.sent and not trainer.sanity_checking and trainer.current_epoch == 0 and batch_idx == self.batch:
            self.sent = True
            os.killpg(os.getpgid(0), self.signal)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.during == "training":
            self._maybe(trainer, batch_idx)

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        if self.during == "validation":
            self._maybe(trainer, batch_idx)
