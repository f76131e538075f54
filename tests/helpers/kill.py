"""A callback that kills its own process with SIGKILL, to test resuming after a hard kill."""

from __future__ import annotations

import os
import signal

import lightning as L


class KillAtEpochStart(L.Callback):
    """SIGKILL the process when epoch ``epoch`` starts (the previous epoch's checkpoints exist)."""

    def __init__(self, epoch: int):
        self.epoch = epoch

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.current_epoch == self.epoch:
            os.kill(os.getpid(), signal.SIGKILL)
