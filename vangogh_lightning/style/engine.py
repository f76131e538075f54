"""The stylize engine (explicit arguments, no config): coarse-to-fine optimisation of same-size images."""

from __future__ import annotations

import gc
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import lightning as L
import torch
from PIL import Image

from vangogh_lightning.config.schema import ConvPadding, Pooling, StyleSettings
from vangogh_lightning.core.devices import trainer_device
from vangogh_lightning.core.errors import UserError
from vangogh_lightning.core.images import atomic_save
from vangogh_lightning.style.image_ops import fit_size, scales_for, to_image, to_tensor
from vangogh_lightning.style.layers import FeatureExtractor
from vangogh_lightning.style.losses import JudgeLoss, gram_matrix
from vangogh_lightning.style.module import StyleTransfer
from vangogh_lightning.style.plan import MIN_SHORT_SIDE, ContentItem, short_side_at


@dataclass(frozen=True)
class Backbone:
    """Which network and layers: names and weights of the content and style layers, and how the
    network pads the image's edge (``border_padding`` px mirrored around it; each conv's padding)."""

    name: str
    content_layers: dict[str, float]
    style_layers: dict[str, float]
    pretrained: bool
    weights_path: str | None
    pooling: Pooling
    border_padding: int = 0
    conv_padding: ConvPadding = "zeros"


class _Snapshots(L.Callback):
    """Save the current images every ``every`` steps (L-BFGS iterations: at the first Lightning step's end after)."""

    def __init__(self, every: int, items: list[ContentItem], scale: int):
        self.every, self.items, self.scale = every, items, scale

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        step = module.done(batch_idx)
        if step // self.every == batch_idx * module.per_step // self.every:
            return
        for item, img in zip(self.items, module.image.detach()):
            target = item.outputs["image"]
            name = f"{target.stem}_s{self.scale}_step{step:05d}.png"
            atomic_save(to_image(img), target.parent / "steps" / name)


class Stylizer:
    """Holds the extractor and the style targets; stylizes batches of same-size content images."""

    def __init__(self, backbone: Backbone, styles: Sequence[Image.Image], style_mix: Sequence[float],
                 settings: StyleSettings, device: torch.device, callbacks: Sequence[L.Callback] = (),
                 judge: JudgeLoss | None = None):
        self.backbone, self.settings, self.device = backbone, settings, device
        # A classifier the images are aimed at (settings.judge_weight > 0); None: plain style transfer.
        self.judge = judge.to(device) if judge is not None and settings.judge_weight > 0 else None
        self.styles, self.style_mix, self.callbacks = list(styles), list(style_mix), list(callbacks)
        self.extractor = FeatureExtractor(
            backbone.name, [*backbone.content_layers, *backbone.style_layers], backbone.pretrained,
            backbone.weights_path, backbone.pooling, backbone.border_padding, backbone.conv_padding,
        ).to(device)
        if "bf16" in settings.precision:  # oneDNN's bf16 convolutions (AMX): 1.2-1.4x faster so; fp32: no gain
            self.extractor.to(memory_format=torch.channels_last)
        self._grams: dict[int, dict[str, torch.Tensor]] = {}

    def style_grams(self, scale: int) -> dict[str, torch.Tensor]:
        """Blended Gram targets of the style image(s) at working size ``scale``."""
        if scale not in self._grams:
            blended: dict[str, torch.Tensor] = {}
            for image, weight in zip(self.styles, self.style_mix):
                tensor = to_tensor(image, fit_size(image.size, scale, self.settings.square)).unsqueeze(0)
                with torch.no_grad():
                    feats = self.extractor(tensor.to(self.device))
                for name in self.backbone.style_layers:
                    blended[name] = blended.get(name, 0) + gram_matrix(feats[name]) * weight
            self._grams[scale] = blended
        return self._grams[scale]

    def _fit(self, module: StyleTransfer, callbacks: list[L.Callback]) -> None:
        trainer = L.Trainer(
            max_epochs=1, max_steps=module.fit_steps, **trainer_device(self.device),
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
        settings = self.settings
        planned = scales_for(settings.size, settings.multiscale, settings.min_scale)
        # Coarse scales at which a narrow image would be too thin are skipped (the final one is checked).
        scales = [c for c in planned[:-1] if short_side_at(items[0].image.size, c, settings.square) >= MIN_SHORT_SIDE]
        scales += planned[-1:]
        result: torch.Tensor | None = None
        module: StyleTransfer | None = None
        for scale in scales:
            size = fit_size(items[0].image.size, scale, settings.square)
            content = torch.stack([to_tensor(it.image, size) for it in items]).to(self.device)
            # Starting pixels: the finished coarser scale, else the content, the style image or seeded noise.
            if result is not None:
                init = torch.nn.functional.interpolate(result, size=content.shape[-2:], mode="bicubic",
                                                       align_corners=False).clamp(0, 1)
            elif settings.init == "style":
                init = to_tensor(self.styles[0], size).to(self.device).expand_as(content).clone()
            elif settings.init == "noise":
                init = torch.rand(content.shape, generator=torch.Generator().manual_seed(settings.seed)).to(self.device)
            else:
                init = content.clone()
            steps = settings.steps if scale == scales[-1] or settings.coarse_steps is None else settings.coarse_steps
            try:
                module = StyleTransfer(
                    self.extractor, content, self.style_grams(scale), self.backbone.content_layers,
                    self.backbone.style_layers, init, steps, settings.content_weight, settings.style_weight,
                    settings.tv_weight, settings.optimizer, settings.lr, settings.lbfgs_history,
                    settings.loss_normalisation, self.judge, settings.judge_weight,
                )
            except RuntimeError as exc:
                if "size" not in str(exc).lower():
                    raise
                raise UserError(f"{items[0].path}: {size[0]}x{size[1]} px is too small for the layers of "
                                f"{self.backbone.name}; raise size= ({exc})") from None
            snaps = [_Snapshots(settings.save_every, items, scale)] if settings.save_every else []
            self._fit(module, snaps)
            result = module.result()
            if scale != scales[-1]:
                # Only the image goes on: free this scale's module (L-BFGS history: ~0.8 GB at 1024 px) before
                # the finest scale needs the memory; gc because Lightning's module <-> trainer links form a cycle.
                module = None
                gc.collect()
        assert module is not None and result is not None
        return result, module, scales
