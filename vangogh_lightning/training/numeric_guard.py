"""Stop a fit at the first non-finite loss, validation metric or weight, saying where.

A diverged fit (e.g. ``model.lr=1e6``) otherwise goes on quietly: torchmetrics leaves NaN
probabilities out of AUROC, so the fold would log a finite score, be recorded as finished and even
be selected, with NaN weights in its checkpoint. The guard runs before the checkpoint callbacks
(Lightning runs those last), so no checkpoint of a non-finite state is written.
"""

from __future__ import annotations

import math

import lightning as L
import torch

from vangogh_lightning.core.errors import UserError
from vangogh_lightning.core.torch_files import first_non_finite


class NonFiniteError(UserError):
    """A loss, metric or weight of a fit became NaN or infinite."""


class FiniteGuard(L.Callback):
    """Raises ``NonFiniteError`` at the first non-finite training loss, validation metric or weight."""

    def on_train_batch_end(self, trainer: L.Trainer, module: L.LightningModule, outputs, batch, batch_idx: int) -> None:
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        if torch.is_tensor(loss) and not bool(torch.isfinite(loss).all()):
            raise NonFiniteError(f"the training loss is {float(loss)} at epoch {trainer.current_epoch}, "
                                 f"batch {batch_idx}")

    def on_validation_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        # (on_validation_end: the module logs its epoch metrics after the callbacks' epoch-end hooks)
        for name, value in trainer.callback_metrics.items():
            if name.startswith("val/") and not math.isfinite(float(value)):
                raise NonFiniteError(f"{name} is {float(value)} at epoch {trainer.current_epoch}")
        weight = first_non_finite(list(module.named_parameters()))
        if weight is not None:
            raise NonFiniteError(f"the weight {weight} is not finite after epoch {trainer.current_epoch}")
