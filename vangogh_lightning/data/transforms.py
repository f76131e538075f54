"""Train (the report's augmentation) and validation (deterministic) transforms."""

from __future__ import annotations

from torchvision.transforms import v2

from vangogh_lightning.models.backbones import IMAGENET_MEAN, IMAGENET_STD


def _to_normalised_tensor() -> list:
    import torch

    return [v2.ToImage(), v2.ToDtype(torch.float32, scale=True), v2.Normalize(IMAGENET_MEAN, IMAGENET_STD)]


def train_transform(size: int = 224) -> v2.Compose:
    """Random resized crop (scale 0.8-1), flip, rotation ±15°, colour jitter, ImageNet normalisation."""
    return v2.Compose([
        v2.RandomResizedCrop(size, scale=(0.8, 1.0), antialias=True),
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
