"""Choose which parts of a backbone train: the last N feature modules and the last M classifier layers."""

from __future__ import annotations

from torch import nn

from vangogh_lightning.core.errors import UserError


def apply_freeze(net: nn.Module, trainable_feature_modules: int,
                 trainable_classifier_layers: int | None) -> None:
    """Freeze all but the trailing ``trainable_feature_modules`` of ``net.features``.

    ``trainable_classifier_layers=None`` trains the whole classifier; an integer k trains only
    the last k layers of it that have weights (Linear, or a SqueezeNet's 1x1 convolution; the new head
    is always among them when k >= 1).
    """
    features = list(net.features)
    if not 0 <= trainable_feature_modules <= len(features):
        raise UserError(
            f"model.trainable_feature_modules={trainable_feature_modules}: must be 0..{len(features)} "
            f"(this backbone's features has {len(features)} modules)"
        )
    linears = [m for m in net.classifier if next(m.parameters(recurse=False), None) is not None]
    if trainable_classifier_layers is not None and not 1 <= trainable_classifier_layers <= len(linears):
        raise UserError(
            f"model.trainable_classifier_layers={trainable_classifier_layers}: must be 1..{len(linears)} "
            "or null (whole classifier)"
        )
    for p in net.parameters():
        p.requires_grad_(False)
    for module in features[len(features) - trainable_feature_modules:]:
        for p in module.parameters():
            p.requires_grad_(True)
    train_linears = linears if trainable_classifier_layers is None else linears[-trainable_classifier_layers:]
    for module in train_linears:
        for p in module.parameters():
            p.requires_grad_(True)


def count_parameters(net: nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    total = sum(p.numel() for p in net.parameters())
    trainable = sum(p.numel() for p in net.parameters() if p.requires_grad)
    return trainable, total
