"""LightningModule: AlexNet or VGG-19 fine-tuned to one logit (Van Gogh vs. not)."""

from __future__ import annotations

import logging

import lightning as L
import torch
from torch import nn
from torch.nn import functional as F
from torchmetrics import MeanMetric

from vangogh_lightning.models.backbones import build_backbone
from vangogh_lightning.models.freezing import apply_freeze, count_parameters
from vangogh_lightning.models.metrics import make_metrics

log = logging.getLogger(__name__)


class VanGoghClassifier(L.LightningModule):
    """Binary Van Gogh classifier on a torchvision backbone with a one-logit head."""

    def __init__(
        self,
        backbone: str = "alexnet",
        pretrained: bool = True,
        weights_path: str | None = None,
        trainable_feature_modules: int = 6,
        trainable_classifier_layers: int | None = None,
        lr: float = 1e-4,
        weight_decay: float = 0.0,
        pos_weight: float | str | None = None,
        threshold: float = 0.5,
        channels_last: bool = False,
        compile: bool = False,
    ):
        super().__init__()
        self.save_hyperparameters()
        net = build_backbone(backbone, pretrained, weights_path)
        last = net.classifier[-1]
        net.classifier[-1] = nn.Linear(last.in_features, 1)
        apply_freeze(net, trainable_feature_modules, trainable_classifier_layers)
        self.net = net
        if channels_last:
            self.net = self.net.to(memory_format=torch.channels_last)
        if compile:
            self.net.compile()  # in place: state_dict keys stay the same
        self.trainable_params, self.total_params = count_parameters(net)
        # Training-only (set in setup from the training fold): not saved, so any checkpoint loads anywhere.
        self.register_buffer("pos_weight", None, persistent=False)
        self.val_metrics = make_metrics(threshold).clone(prefix="val/")
        # Sample-weighted, exact across DDP ranks. A NaN loss stays NaN, for the numeric guard to see: the
        # default drops it unseen, and "disable" would also drop the sample weights (torchmetrics 1.9).
        self.val_loss = MeanMetric(nan_strategy=float("nan"))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Logits, shape (batch,)."""
        if self.hparams.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        return self.net(images).squeeze(-1)

    @torch.no_grad()
    def predict_proba(self, images: torch.Tensor) -> torch.Tensor:
        """Probability of 'Van Gogh' for a batch of normalised images."""
        return torch.sigmoid(self(images))

    def predict_step(self, batch: torch.Tensor | tuple[torch.Tensor, ...], batch_idx: int) -> torch.Tensor:
        """``Trainer.predict``: P(Van Gogh) per image of a batch (images, or (images, targets))."""
        images = batch[0] if isinstance(batch, (tuple, list)) else batch
        return self.predict_proba(images).float()

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        # Checkpoints of earlier versions stored the loss's class weight, now a non-persistent buffer.
        checkpoint.get("state_dict", {}).pop("loss_fn.pos_weight", None)

    def setup(self, stage: str) -> None:
        pos_weight = self.hparams.pos_weight
        if pos_weight == "auto":
            pos_weight = self.trainer.datamodule.positive_weight()
        if pos_weight is not None:
            self.pos_weight = torch.tensor(float(pos_weight), device=self.device)

    def loss_fn(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Binary cross-entropy on the logit, positives weighted by ``model.pos_weight``."""
        return F.binary_cross_entropy_with_logits(logits, targets, pos_weight=self.pos_weight)

    def on_fit_start(self) -> None:
        msg = f"{self.hparams.backbone}: {self.trainable_params:,} of {self.total_params:,} parameters train"
        log.info(msg)
        for logger in self.loggers:
            logger.log_hyperparams({"trainable_params": self.trainable_params,
                                    "total_params": self.total_params})

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        images, targets = batch
        loss = self.loss_fn(self(images), targets)
        self.log("train/loss", loss, on_step=False, on_epoch=True, prog_bar=True, batch_size=len(targets))
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        images, targets = batch
        logits = self(images)
        loss = self.loss_fn(logits, targets)
        self.val_metrics.update(torch.sigmoid(logits.float()), targets.long())
        self.val_loss.update(loss.detach(), weight=len(targets))

    def on_validation_epoch_end(self) -> None:
        self.log_dict(self.val_metrics.compute(), prog_bar=True)
        self.log("val/loss", self.val_loss.compute(), prog_bar=True)
        self.val_metrics.reset()
        self.val_loss.reset()

    def configure_optimizers(self) -> torch.optim.Optimizer:
        params = [p for p in self.parameters() if p.requires_grad]
        return torch.optim.Adam(params, lr=self.hparams.lr, weight_decay=self.hparams.weight_decay)
