"""Train (the report's augmentation) and validation (deterministic) transforms."""

from __future__ import annotations

import math
from typing import Any

import torch
from torchvision.transforms import v2
from torchvision.transforms.v2._utils import query_size

from vangogh_lightning.models.backbones import IMAGENET_MEAN, IMAGENET_STD


def _to_normalised_tensor() -> list:
    return [v2.ToImage(), v2.ToDtype(torch.float32, scale=True), v2.Normalize(IMAGENET_MEAN, IMAGENET_STD)]


class ScaleFreeResizedCrop(v2.RandomResizedCrop):
    """``RandomResizedCrop`` with torchvision's distribution whose crop, for a given random state, is the same
    part of the picture at any resolution (position drawn as a fraction, not a pixel offset), so a cached
    input (shrunk once, ``data.input_cache``) is cropped where the decoded one would be."""

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        height, width = query_size(flat_inputs)
        shape = round(height / width, 2)  # (a shrunk copy's shape differs in the last pixel: same decisions)
        for _ in range(10):
            share = torch.empty(1).uniform_(self.scale[0], self.scale[1]).item()
            ratio = math.exp(torch.empty(1).uniform_(*self._log_ratio).item())
            w_share, h_share = math.sqrt(share * ratio * shape), math.sqrt(share / ratio / shape)
            if w_share <= 1 and h_share <= 1:
                top, left = torch.rand(2).tolist()
                h, w = min(height, max(1, round(h_share * height))), min(width, max(1, round(w_share * width)))
                return dict(top=round(top * (height - h)), left=round(left * (width - w)), height=h, width=w)
        # torchvision's fallback: the central crop of the whole picture within the ratio range
        w = min(width, round(height * max(self.ratio)))
        h = min(height, round(w / min(self.ratio)))
        return dict(top=(height - h) // 2, left=(width - w) // 2, height=h, width=w)


def train_transform(size: int = 224) -> v2.Compose:
    """Random resized crop (scale 0.8-1, scale-free), flip, rotation ±15°, colour jitter, ImageNet normalisation."""
    return v2.Compose([
        ScaleFreeResizedCrop(size, scale=(0.8, 1.0), antialias=True),
        v2.RandomHorizontalFlip(),
        v2.RandomRotation(15),
        v2.ColorJitter(brightness=0.2, contrast=0.2, saturation=0.2, hue=0.1),
        *_to_normalised_tensor(),
    ])


def eval_transform(size: int = 224) -> v2.Compose:
    """Deterministic resize (shorter side size*256/224), centre crop, ImageNet normalisation."""
    return v2.Compose([
        v2.Resize(round(size * 256 / 224), antialias=True),
        v2.CenterCrop(size),
        *_to_normalised_tensor(),
    ])
