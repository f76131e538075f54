"""The stylize engine: style targets, coarse-to-fine optimisation of a batch of same-size images.

Everything it needs comes as explicit arguments (no config object): the backbone, the style images,
the loss and optimiser settings, and any extra Lightning callbacks (benchmarks add a timer there).
"""

from __future__ import annotations

import gc
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import lightning as L
import torch
from PIL import Image

from vangogh_lightning.errors import UserError
from vangogh_lightning.images import atomic_save
from vangogh_lightning.style.imaging import fit_size, scales_for, to_image, to_tensor
from vangogh_lightning.style.layers import FeatureExtractor
from vangogh_lightning.style.losses import gram_matrix
from vangogh_lightning.style.module import INITS, StyleTransfer
from vangogh_lightning.style.plan import MIN_SHORT_SIDE, ContentItem, short_side_at


@dataclass(frozen=True)
class Backbone:
    """Which network and layers: names and weights of the content and style layers."""

    name: str
    content_layers: dict[str, float]
    style_layers: dict[str, float]
    pretrained: bool = True
    weights_path: str | None = None
    pooling: str = "max"


@dataclass(frozen=True)
class Settings:
    """Loss balance, optimiser and schedule of one stylize run (conf/stylize.yaml documents each)."""

    size: int = 512
    square: bool = False
    multiscale: bool | str = "auto"
    min_scale: int = 256
    steps: int = 300
    coarse_steps: int | None = None
    optimizer: str = "lbfgs"
    lr: float | None = None
    lbfgs_history: int = 50
    init: str = "content"
    seed: int = 0
    content_weight: float = 1.0
    style_weight: float = 4.0e3
    tv_weight: float = 70.0
    loss_normalisation: str = "relative"
    precision: str = "32-true"
    progress_bar: bool = True
    save_every: int = 0


def initial_image(kind: str, content: torch.Tensor, style: Image.Image, seed: int) -> torch.Tensor:
    """Starting pixels: the content, the (resized) style image, or seeded uniform noise."""
    if kind == "content":
        return content.clone()
    if kind == "style":
        h, w = content.shape[-2:]
        return to_tensor(style, (w, h)).expand_as(content).clone()
    if kind == "noise":
        gen = torch.Generator().manual_seed(seed)
        return torch.rand(content.shape, generator=gen)
    raise UserError(f"init={kind}: choose one of {', '.join(INITS)}")


class _Snapshots(L.Callback):
    """Save the current images every ``every`` steps."""

    def __init__(self, every: int, items: list[ContentItem], scale: int):
        self.every, self.items, self.scale = every, items, scale

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        step = trainer.global_step
        if step % self.every:
            return
        for item, img in zip(self.items, module.image.detach()):
            target = item.outputs["image"]
            name = f"{target.stem}_s{self.scale}_step{step:05d}.png"
            atomic_save(to_image(img), target.parent / "steps" / name)


class Stylizer:
    """Holds the extractor and the style targets; stylizes batches of same-size content images."""

    def __init__(self, backbone: Backbone, styles: Sequence[Image.Image], style_mix: Sequence[float],
                 settings: Settings, device: torch.device, callbacks: Sequence[L.Callback] = ()):
        self.backbone, self.settings, self.device = backbone, settings, device
        self.styles, self.style_mix = list(styles), list(style_mix)
        self.callbacks = list(callbacks)
        self.extractor = FeatureExtractor(
            backbone.name, [*backbone.content_layers, *backbone.style_layers], backbone.pretrained,
            backbone.weights_path, backbone.pooling,
        ).to(device)
        self._grams: dict[int, dict[str, torch.Tensor]] = {}

    def style_grams(self, scale: int) -> dict[str, torch.Tensor]:
        """Blended Gram targets of the style image(s) at working size ``scale``."""
        if scale not in self._grams:
            blended: dict[str, torch.Tensor] = {}
            for image, weight in zip(self.styles, self.style_mix):
                size = fit_size(image.size, scale, self.settings.square)
                tensor = to_tensor(image, size).unsqueeze(0).to(self.device)
                with torch.no_grad():
                    feats = self.extractor(tensor)
                for name in self.backbone.style_layers:
                    gram = gram_matrix(feats[name]) * weight
                    blended[name] = blended[name] + gram if name in blended else gram
            self._grams[scale] = blended
        return self._grams[scale]

    def _fit(self, module: StyleTransfer, steps: int, callbacks: list[L.Callback]) -> None:
        accelerator = "gpu" if self.device.type == "cuda" else "cpu"
        trainer = L.Trainer(
            max_epochs=1, max_steps=steps, accelerator=accelerator, devices=1,
            logger=False, enable_checkpointing=False, enable_model_summary=False,
            enable_progress_bar=bool(self.settings.progress_bar), callbacks=[*callbacks, *self.callbacks],
            precision=self.settings.precision,
        )
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*module\\(s\\) in eval mode.*")
            trainer.fit(module)
        for callback in self.callbacks:  # Lightning binds the module's log methods onto every callback;
            for name in ("log", "log_dict"):  # unbound, a callback kept across scales keeps no module alive
                callback.__dict__.pop(name, None)

    def run_batch(self, items: list[ContentItem]) -> tuple[torch.Tensor, StyleTransfer, list[int]]:
        """Stylize images that share one working size; returns (images, last module, scales)."""
        s = self.settings
        planned = scales_for(s.size, s.multiscale, s.min_scale)
        # Coarse scales at which a narrow image would be too thin are skipped (the final one is checked).
        scales = [c for c in planned[:-1] if short_side_at(items[0].image.size, c, s.square) >= MIN_SHORT_SIDE]
        scales += planned[-1:]
        result: torch.Tensor | None = None
        module: StyleTransfer | None = None
        for scale in scales:
            size = fit_size(items[0].image.size, scale, s.square)
            content = torch.stack([to_tensor(it.image, size) for it in items]).to(self.device)
            if result is None:
                init = initial_image(s.init, content.cpu(), self.styles[0], s.seed).to(self.device)
            else:
                init = torch.nn.functional.interpolate(result, size=content.shape[-2:], mode="bicubic",
                                                       align_corners=False).clamp(0, 1)
            steps = s.steps if scale == scales[-1] or s.coarse_steps is None else s.coarse_steps
            try:
                module = StyleTransfer(
                    self.extractor, content, self.style_grams(scale), self.backbone.content_layers,
                    self.backbone.style_layers, init, steps, s.content_weight, s.style_weight,
                    s.tv_weight, s.optimizer, s.lr, s.lbfgs_history, s.loss_normalisation,
                )
            except RuntimeError as exc:
                if "size" not in str(exc).lower():
                    raise
                raise UserError(
                    f"{items[0].path}: {size[0]}x{size[1]} px is too small for the layers of "
                    f"{self.backbone.name}; raise size= ({exc})"
                ) from None
            snaps = [_Snapshots(s.save_every, items, scale)] if s.save_every else []
            self._fit(module, steps, snaps)
            result = module.result()
            if scale != scales[-1]:
                # Only the image goes on to the next scale: drop this scale's module (content features,
                # L-BFGS history: ~0.8 GB at 1024 px after 300 steps) before the finest scale needs the
                # memory; gc because Lightning's module <-> trainer links form a cycle.
                module = None
                gc.collect()
        assert module is not None and result is not None
        return result, module, scales
