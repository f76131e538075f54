"""StyleTransfer LightningModule: its only parameter is the batch of output images."""

from __future__ import annotations

import math

import lightning as L
import torch
from torch import nn
from torch.utils.data import DataLoader

from vangogh_lightning.config.schema import LossNormalisation, Optimizer
from vangogh_lightning.style.layers import FeatureExtractor
from vangogh_lightning.style.losses import StyleTransferLoss

# L-BFGS iterations per Lightning step (the PyTorch tutorial's max_iter=20): Lightning's per-step work is paid
# once per 20 evaluations; ``steps`` still counts iterations (docs/stylize.md).
LBFGS_ITERATIONS_PER_STEP = 20


class StyleTransfer(L.LightningModule):
    """Optimise pixels so their features match the content and their Gram matrices the style (keyword defaults:
    conf/stylize.yaml's)."""

    def __init__(
        self,
        extractor: FeatureExtractor,
        content: torch.Tensor,
        style_grams: dict[str, torch.Tensor],
        content_layers: dict[str, float],
        style_layers: dict[str, float],
        init: torch.Tensor,
        steps: int,
        content_weight: float = 1.0,
        style_weight: float = 4.0e3,
        tv_weight: float = 70.0,
        optimizer: Optimizer = "lbfgs",
        lr: float | None = None,
        lbfgs_history: int = 50,
        loss_normalisation: LossNormalisation = "relative",
        judge: nn.Module | None = None,
        judge_weight: float = 0.0,
        iterations_per_step: int | None = None,
    ):
        super().__init__()
        self.extractor = extractor
        self.image = nn.Parameter(init.detach().clone().contiguous().clamp_(0, 1))
        self.optimizer_name = optimizer
        self.lr = lr if lr is not None else (1.0 if optimizer == "lbfgs" else 0.02)
        self.steps = steps  # L-BFGS iterations (Adam: steps), grouped into fit_steps Lightning steps
        self.per_step = (iterations_per_step or LBFGS_ITERATIONS_PER_STEP) if optimizer == "lbfgs" else 1
        self.fit_steps = math.ceil(steps / self.per_step)
        self.lbfgs_history = lbfgs_history
        with torch.no_grad():
            feats = extractor(content)
        self.loss = StyleTransferLoss(feats, style_grams, content_layers, style_layers, content_weight, style_weight,
                                      tv_weight, loss_normalisation, judge, judge_weight)
        # L-BFGS without line search can blow up late in a run: keep each image's best iterate.
        self.register_buffer("best_image", self.image.detach().clone())
        self.register_buffer("best_total", torch.full((init.shape[0],), float("inf")))

    def losses(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-image weighted content, style and TV losses and their sum."""
        return self.loss(self.extractor(image), image)

    def done(self, batch_idx: int) -> int:
        """Iterations done once Lightning step ``batch_idx`` has ended."""
        return min(self.steps, (batch_idx + 1) * self.per_step)

    def on_train_batch_start(self, batch, batch_idx: int) -> None:
        if self.optimizer_name == "lbfgs":  # the last Lightning step does what is left of ``steps``
            self.optimizers().optimizer.param_groups[0]["max_iter"] = self.done(batch_idx) - batch_idx * self.per_step

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        # Called once per L-BFGS evaluation (the closure), so the clamp and the best-iterate guard see every iterate.
        with torch.no_grad():
            self.image.clamp_(0, 1)
        parts = self.losses(self.image)
        self._keep_best(parts["total"])
        if self.trainer.progress_bar_callback is not None:
            self._show(parts)
        return parts["total"].sum()

    def _show(self, parts: dict[str, torch.Tensor]) -> None:
        # Shown, never stored (logging costs a tenth of a GPU step); "total": the best so far, as the JSON records.
        for name in ("content", "style", "tv", "judge"):
            if name in parts:
                self.log(name, parts[name].mean().detach(), prog_bar=True, on_step=True, logger=False)
        self.log("total", self.best_total.mean(), prog_bar=True, on_step=True, logger=False)

    @torch.no_grad()
    def _keep_best(self, total: torch.Tensor) -> None:
        """Remember the current image of every batch item whose total loss is the lowest so far."""
        # torch.where, not boolean indexing: no device-to-host sync on every step on a GPU.
        total = total.detach().float()
        better = total < self.best_total
        self.best_total.copy_(torch.where(better, total, self.best_total))
        self.best_image.copy_(torch.where(better.view(-1, 1, 1, 1), self.image.detach(), self.best_image))

    @torch.no_grad()
    def result(self) -> torch.Tensor:
        """The best image seen for each item of the batch (the current one if it is better)."""
        self._keep_best(self.losses(self.image)["total"])
        return self.best_image.clone()

    @torch.no_grad()
    def on_train_batch_end(self, outputs, batch, batch_idx: int) -> None:
        self.image.clamp_(0, 1)
        if batch_idx == self.fit_steps - 1 and self.trainer.progress_bar_callback is not None:
            # After the last step the bar would still show the losses before it; one more forward pass
            # shows those of the image that is kept (the best iterate): the numbers the JSON record saves.
            parts = self.losses(self.image)
            self._keep_best(parts["total"])
            if not bool(torch.equal(self.best_image, self.image.detach())):
                parts = self.losses(self.best_image)
            self._show(parts)

    def train_dataloader(self) -> DataLoader:
        # One dummy item per Lightning step: all the work happens on self.image.
        return DataLoader(range(self.fit_steps), batch_size=None)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        if self.optimizer_name == "lbfgs":
            # No tolerance exits, no line search (as the tutorial's; strong-Wolfe stalled in earlier probes).
            return torch.optim.LBFGS([self.image], lr=self.lr, max_iter=self.per_step, history_size=self.lbfgs_history,
                                     tolerance_grad=0.0, tolerance_change=0.0)
        return torch.optim.Adam([self.image], lr=self.lr)

    @torch.no_grad()
    def evaluate(self, image: torch.Tensor) -> dict[str, list[float]]:
        """Per-image losses of ``image`` without optimising."""
        return {k: v.float().cpu().tolist() for k, v in self.losses(image.to(self.image.device)).items()}
