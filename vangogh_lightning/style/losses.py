"""Style-transfer losses, each returning one value per image of the batch."""

from __future__ import annotations

import torch


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
    constant, so layers of different size contribute on one scale (the report's normalisation).
    """
    return (gram - target_gram).pow(2).flatten(1).mean(1)


def total_variation(image: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of neighbouring pixels per image."""
    dy = (image[..., 1:, :] - image[..., :-1, :]).pow(2).flatten(1).mean(1)
    dx = (image[..., :, 1:] - image[..., :, :-1]).pow(2).flatten(1).mean(1)
    return dx + dy
