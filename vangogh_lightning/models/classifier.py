"""LightningModule: AlexNet or VGG-19 fine-tuned to one logit (Van Gogh vs. not)."""

from __future__ import annotations

import logging

import lightning as L
import torch
from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.trainer.states import TrainerFn
from torch import nn
from torch.nn import functional as F
from torchmetrics import MaxMetric, MeanMetric, MinMetric

from vangogh_lightning.core.errors import UserError
from vangogh_lightning.core.torch_files import first_non_finite
from vangogh_lightning.models.backbones import apply_freeze, build_backbone, one_logit_head
from vangogh_lightning.models.metric_names import METRIC_MODES
from vangogh_lightning.models.metrics import make_metrics

log = logging.getLogger(__name__)


class NonFiniteError(UserError):
    """A loss, metric or weight of a fit became NaN or infinite."""


def check_finite(metrics: dict[str, torch.Tensor], module: nn.Module, epoch: int) -> None:
    """Raise ``NonFiniteError`` at the first non-finite metric, else at the first non-finite weight."""
    for name, value in metrics.items():
        if not bool(torch.isfinite(value).all()):
            raise NonFiniteError(f"{name} is {float(value)} at epoch {epoch}")
    if (weight := first_non_finite(list(module.named_parameters()))) is not None:
        raise NonFiniteError(f"the weight {weight} is not finite after epoch {epoch}")


class VanGoghClassifier(L.LightningModule):
    """Binary Van Gogh classifier on a torchvision backbone with a one-logit head.

    A fit stops at the first non-finite training loss, validation metric or weight (``NonFiniteError``),
    before any checkpoint of that state is written: torchmetrics leaves NaN probabilities out of AUROC,
    so a diverged fold would otherwise log a finite score and even be selected. ``monitor`` and
    ``monitor_mode`` (the run's ``monitor.*``, not hyper-parameters) choose the metric whose best epoch
    ``best/epoch`` is."""

    def __init__(
        self,
        backbone: str = "alexnet",
        pretrained: bool = True,
        weights_path: str | None = None,
        trainable_feature_modules: int = 6,
        trainable_classifier_layers: int | None = None,
        lr: float = 1.0369e-05,
        weight_decay: float = 8.2922e-05,
        pos_weight: float | str | None = None,
        threshold: float = 0.5,
        channels_last: bool = False,
        compile: bool = False,
        monitor: str = "val/auroc",
        monitor_mode: str = "max",
    ):
        super().__init__()
        self.save_hyperparameters(ignore=["monitor", "monitor_mode"])
        self.net = net = one_logit_head(build_backbone(backbone, pretrained, weights_path))
        apply_freeze(net, trainable_feature_modules, trainable_classifier_layers)
        if channels_last:
            net.to(memory_format=torch.channels_last)
        if compile:
            net.compile()  # in place: state_dict keys stay the same
        self.trainable_params = sum(p.numel() for p in net.parameters() if p.requires_grad)
        self.total_params = sum(p.numel() for p in net.parameters())
        # Training-only (set in setup from the training fold): not saved, so any checkpoint loads anywhere.
        self.register_buffer("pos_weight", None, persistent=False)
        self.val_metrics = make_metrics(threshold).clone(prefix="val/")
        # Sample-weighted, exact across DDP ranks. A NaN loss stays NaN, for the finiteness check to see: the
        # default drops it unseen, and "disable" would also drop the sample weights (torchmetrics 1.9).
        self.val_loss = MeanMetric(nan_strategy=float("nan"))
        # The best of each metric over the fit's epochs, logged as best/<name> (a W&B summary, summary.json),
        # and best/epoch: the epoch of the monitored metric's best.
        self.monitor, self.modes = monitor, {**METRIC_MODES, monitor: monitor_mode}
        self.best = nn.ModuleDict({name: MinMetric() if mode == "min" else MaxMetric()
                                   for name, mode in self.modes.items()})
        self.best_epoch: int | None = None
        # How many leading ``features`` modules the batches have already been through: 0 for images; the frozen
        # prefix's depth while data.feature_cache serves their stored output (training.feature_cache).
        self.input_depth = 0
        self._compiled_rest = None

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Logits, shape (batch,), of images (or, with ``input_depth``, of the frozen prefix's features)."""
        if self.hparams.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        if not self.input_depth:
            return self.net(images).squeeze(-1)
        if self.hparams.compile and self._compiled_rest is None:  # (net.compile() covers calls of the whole net)
            self._compiled_rest = torch.compile(self._rest)
        return (self._compiled_rest or self._rest)(images.to(self.dtype)).squeeze(-1)

    def _rest(self, features: torch.Tensor) -> torch.Tensor:
        """torchvision's AlexNet/VGG forward, from the first module that trains (``input_depth``)."""
        net = self.net
        return net.classifier(torch.flatten(net.avgpool(net.features[self.input_depth:](features)), 1))

    @torch.no_grad()
    def predict_proba(self, images: torch.Tensor) -> torch.Tensor:
        """Probability of 'Van Gogh' for a batch of normalised images."""
        return torch.sigmoid(self(images))

    def predict_step(self, batch: torch.Tensor | tuple[torch.Tensor, ...], batch_idx: int) -> torch.Tensor:
        """``Trainer.predict``: P(Van Gogh) per image of a batch (images, or (images, targets))."""
        images = batch[0] if isinstance(batch, (tuple, list)) else batch
        return self.predict_proba(images).float()

    def setup(self, stage: str) -> None:
        pos_weight = self.hparams.pos_weight
        if pos_weight == "auto" and self.trainer.datamodule is None:
            return  # predicting without the training data: the training fold's class weight is not needed
        if pos_weight == "auto":
            pos_weight = self.trainer.datamodule.positive_weight()
        if pos_weight is not None:
            self.pos_weight = torch.tensor(float(pos_weight), device=self.device)

    def loss_fn(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Binary cross-entropy on the logit, positives weighted by ``model.pos_weight``."""
        return F.binary_cross_entropy_with_logits(logits, targets, pos_weight=self.pos_weight)

    def on_fit_start(self) -> None:
        log.info(f"{self.hparams.backbone}: {self.trainable_params:,} of {self.total_params:,} parameters train")
        for logger in self.loggers:
            logger.log_hyperparams({"trainable_params": self.trainable_params,
                                    "total_params": self.total_params})
            if isinstance(logger, WandbLogger):  # the W&B summary of each metric: its best epoch's value
                for name, mode in self.modes.items():
                    logger.experiment.define_metric(name, summary=mode)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        images, targets = batch
        loss = self.loss_fn(self(images), targets)
        if not bool(torch.isfinite(loss)):
            raise NonFiniteError(f"the training loss is {float(loss)} at epoch {self.current_epoch}, batch {batch_idx}")
        self.log("train/loss", loss, on_step=False, on_epoch=True, prog_bar=True, batch_size=len(targets))
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        images, targets = batch
        logits = self(images)
        loss = self.loss_fn(logits, targets)
        self.val_metrics.update(torch.sigmoid(logits.float()), targets.long())
        self.val_loss.update(loss.detach(), weight=len(targets))

    def on_validation_epoch_end(self) -> None:
        metrics = {**self.val_metrics.compute(), "val/loss": self.val_loss.compute()}
        self.log_dict(metrics, prog_bar=True)
        self.val_metrics.reset()
        self.val_loss.reset()
        # Here, before the callbacks' on_validation_end: no checkpoint of a non-finite state is written.
        check_finite(metrics, self, self.current_epoch)
        if self.trainer.sanity_checking or self.trainer.state.fn != TrainerFn.FITTING:
            return  # (the bests are a fit's: trainer.validate() only validates)
        best, better = self.best[self.monitor], torch.gt if self.modes[self.monitor] == "max" else torch.lt
        if best.update_count == 0 or better(metrics[self.monitor], best.compute()):
            self.best_epoch = self.current_epoch  # (strictly better: a tie keeps the earlier epoch)
        for name, value in metrics.items():
            self.best[name].update(value)
        self.log_dict(self.best_metrics())

    def best_metrics(self) -> dict[str, float | int | None]:
        """``best/<metric>`` of every metric validated so far, and ``best/epoch`` (0-based, of the monitored one)."""
        bests = {f"best/{k.removeprefix('val/')}": float(m.compute()) for k, m in self.best.items() if m.update_count}
        return {**bests, "best/epoch": self.best_epoch}

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["best_metrics"] = self.best_metrics()  # (metric states are not in the state dict)

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        saved = dict(checkpoint.get("best_metrics") or {"best/epoch": None})
        self.best_epoch = saved.pop("best/epoch")  # a resumed fit goes on from its bests so far
        for key, value in saved.items():
            self.best[f"val/{key.removeprefix('best/')}"].update(value)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        params = [p for p in self.parameters() if p.requires_grad]
        return torch.optim.Adam(params, lr=self.hparams.lr, weight_decay=self.hparams.weight_decay)
