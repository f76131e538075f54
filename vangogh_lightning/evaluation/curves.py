"""ROC and precision-recall curves of probabilities against 0/1 labels, in numpy (the study page is
drawn without importing torch); the same points as torchmetrics' ``binary_roc`` and
``binary_precision_recall_curve`` (tests/test_evaluate.py compares them)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def roc_pr(probabilities: np.ndarray, labels: np.ndarray) -> dict[str, tuple[list[float], list[float]]]:
    """``{"roc": (false positive rates, true positive rates), "pr": (recalls, precisions)}``: one point per
    distinct probability taken as the threshold (P >= threshold is "Van Gogh"), ROC from (0, 0), PR by
    rising threshold and ending at (recall 0, precision 1)."""
    p, y = np.asarray(probabilities, dtype=float), np.asarray(labels, dtype=int)
    order = np.argsort(-p, kind="stable")
    p, y = p[order], y[order]
    last_of_each = np.r_[np.flatnonzero(np.diff(p)), len(p) - 1]  # (p is falling: each threshold's last row)
    tp = np.cumsum(y)[last_of_each]
    fp = last_of_each + 1 - tp
    positives, negatives = max(int(y.sum()), 1), max(int(len(y) - y.sum()), 1)
    precision, recall = tp / (tp + fp), tp / positives
    return {"roc": (np.r_[0.0, fp / negatives].tolist(), np.r_[0.0, tp / positives].tolist()),
            "pr": (np.r_[recall[::-1], 0.0].tolist(), np.r_[precision[::-1], 1.0].tolist())}


def curves(predictions: pd.DataFrame) -> dict[str, tuple[list[float], list[float]]]:
    """:func:`roc_pr` of a predictions table (``p_van_gogh``, ``label``: out-of-fold or test predictions)."""
    return roc_pr(predictions["p_van_gogh"].to_numpy(), predictions["label"].to_numpy())
