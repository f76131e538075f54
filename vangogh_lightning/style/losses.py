"""Style-transfer losses, one value per image of the batch. Each layer's term is a *relative* error (divided by
the mean square of its target): with ReLU and max pooling positively homogeneous it is the same for any
layer-wise rescaled network, so the weights mean the same for random and ImageNet weights (tests/test_style.py)."""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn import functional as F

from vangogh_lightning.config.schema import LossNormalisation
from vangogh_lightning.models.backbones import IMAGENET_MEAN, IMAGENET_STD
from vangogh_lightning.models.classifier import VanGoghClassifier
from vangogh_lightning.style.layers import buffers_only

EPS = 1e-30  # only guards an all-zero target (a dead layer); far below any real activation's square


class _Gram(torch.autograd.Function):
    """``F @ F.T`` whose backward is one product, ``(dG + dG.T) @ F``, not autograd's two (6-15 % of an fp32 step)."""

    @staticmethod
    def forward(ctx, flat: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(flat)
        return flat @ flat.transpose(1, 2)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (flat,) = ctx.saved_tensors
        return (grad + grad.transpose(1, 2)).to(flat.dtype) @ flat


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """Channel correlations normalised by the number of positions: (B, C, H, W) -> (B, C, C)."""
    b, c, h, w = features.shape
    flat = features.reshape(b, c, h * w)
    if not torch.is_autocast_enabled(flat.device.type):  # (autocast runs the product in bf16 anyway: no copies)
        flat = flat.float()
    return _Gram.apply(flat).float() / (h * w)


def style_loss(gram: torch.Tensor, target_gram: torch.Tensor) -> torch.Tensor:
    """Mean squared Gram difference per image: Gatys et al.'s per-layer term up to a constant (Gram / H*W)."""
    return (gram - target_gram).pow(2).flatten(1).mean(1)


def total_variation(image: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of neighbouring pixels per image."""
    dy = (image[..., 1:, :] - image[..., :-1, :]).pow(2).flatten(1).mean(1)
    dx = (image[..., :, 1:] - image[..., :, :-1]).pow(2).flatten(1).mean(1)
    return dx + dy


class LayerLoss(nn.Module):
    """One layer's MSE of its features (``gram=False``, content) or Gram matrix (style) to the target, divided
    by the target's mean square. ``relative=False``: the report's terms, which depend on the network's scale:
    the plain MSE, and for style ``mean((G - G_style)**2) / (C*H*W)`` with ``G = F F^T`` (H*W / C x our MSE)."""

    def __init__(self, target: torch.Tensor, gram: bool, relative: bool = True):
        super().__init__()
        self.gram, self.relative = gram, relative
        self.register_buffer("target", target.detach())
        self.register_buffer("scale", target.float().pow(2).flatten(1).mean(1).clamp_min(EPS))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        if self.gram:
            error = style_loss(gram_matrix(features), self.target)
        else:
            error = (features.float() - self.target.float()).pow(2).flatten(1).mean(1)
        if self.relative:
            return error / self.scale
        _, c, h, w = features.shape
        return error * (h * w / c) if self.gram else error


class JudgeLoss(nn.Module):
    """Per image: ``-log P(Van Gogh)`` by a frozen copy (weights as buffers) of ``classifier`` at its training
    ``image_size``, through its validation transform inside the graph so the gradient reaches the pixels."""

    def __init__(self, classifier: VanGoghClassifier, image_size: int):
        super().__init__()
        self.backbone = classifier.hparams.backbone
        self.net = buffers_only(copy.deepcopy(classifier.net).eval())
        self.image_size = int(image_size)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def train(self, mode: bool = True) -> JudgeLoss:
        """Always in eval mode (dropout off): the judge is a fixed measuring instrument."""
        return super().train(False)

    def view(self, image: torch.Tensor) -> torch.Tensor:
        """The classifier's input for an RGB batch in [0, 1], as its validation transform makes it."""
        h, w = image.shape[-2:]
        short = round(self.image_size * 256 / 224)
        size = (short, max(1, round(w * short / h))) if h <= w else (max(1, round(h * short / w)), short)
        x = F.interpolate(image, size=size, mode="bilinear", align_corners=False, antialias=True)
        top, left = (size[0] - self.image_size) // 2, (size[1] - self.image_size) // 2
        x = x[..., top:top + self.image_size, left:left + self.image_size]
        return (x - self.mean) / self.std

    def logit(self, image: torch.Tensor) -> torch.Tensor:
        return self.net(self.view(image)).squeeze(-1)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return -F.logsigmoid(self.logit(image).float())

    @torch.no_grad()
    def p_van_gogh(self, image: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.logit(image).float())


class StyleTransferLoss(nn.Module):
    """Weighted content, style and total-variation terms over named layers; owns all its targets. A ``judge``
    (:class:`JudgeLoss`) adds ``judge_weight * -log P(Van Gogh)``, aiming the image at that classifier."""

    def __init__(self, content_features: dict[str, torch.Tensor], style_grams: dict[str, torch.Tensor],
                 content_layers: dict[str, float], style_layers: dict[str, float],
                 content_weight: float = 1.0, style_weight: float = 1.0, tv_weight: float = 0.0,
                 normalisation: LossNormalisation = "relative", judge: nn.Module | None = None,
                 judge_weight: float = 0.0):
        super().__init__()
        self.judge = judge
        relative = normalisation == "relative"
        self.content_layers, self.style_layers = dict(content_layers), dict(style_layers)
        self.content = nn.ModuleDict({n: LayerLoss(content_features[n], False, relative) for n in self.content_layers})
        self.style = nn.ModuleDict({n: LayerLoss(style_grams[n], True, relative) for n in self.style_layers})
        self.weights = {"content": content_weight, "style": style_weight, "tv": tv_weight, "judge": judge_weight}

    def forward(self, features: dict[str, torch.Tensor], image: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-image weighted terms and their sum ``total``."""
        c = sum(w * self.content[n](features[n]) for n, w in self.content_layers.items())
        s = sum(w * self.style[n](features[n]) for n, w in self.style_layers.items())
        parts = {
            "content": self.weights["content"] * c,
            "style": self.weights["style"] * s,
            "tv": self.weights["tv"] * total_variation(image),
        }
        if self.judge is not None:
            parts["judge"] = self.weights["judge"] * self.judge(image)
        parts["total"] = sum(parts.values())
        return parts
