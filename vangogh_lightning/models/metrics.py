"""The validation metrics (torchmetrics) a fold logs; their names are in ``metric_names``."""

from __future__ import annotations

import torch
from torchmetrics import MetricCollection
from torchmetrics.classification import BinaryAccuracy, BinaryAUROC, BinaryF1Score, MulticlassAccuracy


class BalancedAccuracy(MulticlassAccuracy):
    """Mean of the per-class recalls of a binary problem, fed with probabilities."""

    def __init__(self, threshold: float = 0.5, **kwargs):
        super().__init__(num_classes=2, average="macro", **kwargs)
        self.threshold = threshold

    def update(self, preds: torch.Tensor, target: torch.Tensor) -> None:
        super().update((preds >= self.threshold).long(), target.long())


def make_metrics(threshold: float) -> MetricCollection:
    """AUROC, F1, accuracy and balanced accuracy for probabilities vs. 0/1 targets (``val/<name>`` once prefixed)."""
    return MetricCollection({
        "auroc": BinaryAUROC(),
        "f1": BinaryF1Score(threshold=threshold),
        "acc": BinaryAccuracy(threshold=threshold),
        "bal_acc": BalancedAccuracy(threshold=threshold),
    })
