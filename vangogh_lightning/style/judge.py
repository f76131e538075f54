"""A classifier as a style-transfer loss: -log P(Van Gogh) of the image, the classifier frozen.

The image goes through the classifier's own validation transform inside the graph (resize of the
short side to size x 256/224, centre crop, ImageNet normalisation), so the gradient reaches the
pixels. The classifier's weights are copied into buffers: nothing of it trains, and the
LightningModule's only parameters stay the pixels.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn import functional as F

from vangogh_lightning.models.backbones import IMAGENET_MEAN, IMAGENET_STD
from vangogh_lightning.models.classifier import VanGoghClassifier
from vangogh_lightning.style.layers import buffers_only


class JudgeLoss(nn.Module):
    """Per image: ``-log P(Van Gogh)`` by a frozen copy of ``classifier`` at its training ``image_size``."""

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
