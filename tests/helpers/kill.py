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
