"""Style-transfer losses, each returning one value per image of the batch.

Each layer's content and style term is a *relative* error: the squared error divided by the mean
square of its own target. Why: the activations of a layer scale with the network's weights (a
random VGG-19 and torchvision's ImageNet VGG-19 differ by orders of magnitude, and differently per
layer). ReLU and max pooling are positively homogeneous, so scaling conv layer l by a_l scales
every activation of layer l by a_1...a_l, its Gram matrix by the square of that; an absolute MSE
then changes by that factor squared, a relative one not at all. So the loss, as a function of the
pixels, is the same for any such rescaled network, the optimiser takes the same path, and
``content_weight`` / ``style_weight`` / layer weights are plain ratios that mean the same for
random and ImageNet weights (tests/test_style.py rescales the networks layer by layer to check)."""

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


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """Channel correlations normalised by the number of positions: (B, C, H, W) -> (B, C, C)."""
    b, c, h, w = features.shape
    flat = features.reshape(b, c, h * w).float()
    return flat @ flat.transpose(1, 2) / (h * w)


def content_loss(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared feature difference per image."""
    return (features.float() - target.float()).pow(2).flatten(1).mean(1)


def style_loss(gram: torch.Tensor, target_gram: torch.Tensor) -> torch.Tensor:
    """Mean squared Gram difference per image.

    With Gram matrices divided by H*W this equals Gatys et al.'s per-layer term up to a
    constant, so layers of different size contribute on one scale (the report's normalisation)."""
    return (gram - target_gram).pow(2).flatten(1).mean(1)


def total_variation(image: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of neighbouring pixels per image."""
    dy = (image[..., 1:, :] - image[..., :-1, :]).pow(2).flatten(1).mean(1)
    dx = (image[..., :, 1:] - image[..., :, :-1]).pow(2).flatten(1).mean(1)
    return dx + dy


def _mean_square(target: torch.Tensor) -> torch.Tensor:
    """Per-item mean square of a target, shaped to divide a per-image loss."""
    return target.float().pow(2).flatten(1).mean(1).clamp_min(EPS)


class ContentLoss(nn.Module):
    """Relative feature error of one layer: MSE to the content's features / their mean square.

    ``relative=False``: the plain MSE, as the report's code computed it."""

    def __init__(self, target: torch.Tensor, relative: bool = True):
        super().__init__()
        self.register_buffer("target", target.detach())
        scale = _mean_square(target) if relative else torch.ones(len(target), device=target.device)
        self.register_buffer("scale", scale)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return content_loss(features, self.target) / self.scale


class StyleLoss(nn.Module):
    """Relative Gram error of one layer: MSE to the style's Gram matrix / its mean square.

    ``relative=False``: the report's term, ``mean((G - G_style)**2) / (C*H*W)`` with unnormalised
    Gram matrices ``G = F F^T``; with our Gram (divided by H*W) that is ``H*W / C`` times the MSE.
    It depends on the network's scale (the reason the default is relative)."""

    def __init__(self, target_gram: torch.Tensor, relative: bool = True):
        super().__init__()
        self.relative = relative
        self.register_buffer("target", target_gram.detach())
        self.register_buffer("scale", _mean_square(target_gram))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        error = style_loss(gram_matrix(features), self.target)
        if self.relative:
            return error / self.scale
        _, c, h, w = features.shape
        return error * (h * w / c)


class JudgeLoss(nn.Module):
    """Per image: ``-log P(Van Gogh)`` by a frozen copy of ``classifier`` at its training ``image_size``.

    The image goes through the classifier's own validation transform inside the graph (resize of the
    short side to size x 256/224, centre crop, ImageNet normalisation), so the gradient reaches the
    pixels. The classifier's weights are copied into buffers: nothing of it trains, and the
    LightningModule's only parameters stay the pixels."""

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
    """Weighted content, style and total-variation terms over named layers; owns all its targets.

    With a ``judge`` (a frozen classifier, :class:`JudgeLoss`) a fourth term,
    ``judge_weight * -log P(Van Gogh)``, aims the image at that classifier."""

    def __init__(self, content_features: dict[str, torch.Tensor], style_grams: dict[str, torch.Tensor],
                 content_layers: dict[str, float], style_layers: dict[str, float],
                 content_weight: float = 1.0, style_weight: float = 1.0, tv_weight: float = 0.0,
                 normalisation: LossNormalisation = "relative", judge: nn.Module | None = None,
                 judge_weight: float = 0.0):
        super().__init__()
        self.judge = judge
        relative = normalisation == "relative"
        self.content_layers, self.style_layers = dict(content_layers), dict(style_layers)
        self.content = nn.ModuleDict({n: ContentLoss(content_features[n], relative) for n in self.content_layers})
        self.style = nn.ModuleDict({n: StyleLoss(style_grams[n], relative) for n in self.style_layers})
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
