"""Stratified K-fold assignment with a fixed seed."""

from __future__ import annotations

import numpy as np

from vangogh_lightning.errors import UserError


def stratified_folds(labels: np.ndarray, num_folds: int, seed: int) -> np.ndarray:
    """Return each sample's fold (0..num_folds-1); every class is spread round-robin over folds."""
    labels = np.asarray(labels)
    if num_folds < 2:
        raise UserError(f"data.num_folds={num_folds}: need at least 2 folds")
    for cls in (0, 1):
        count = int((labels == cls).sum())
        if count < num_folds:
            name = "positive (Van Gogh)" if cls == 1 else "negative"
            raise UserError(
                f"data.num_folds={num_folds}: only {count} {name} image(s), so some validation fold "
                "would have none; add images or lower data.num_folds"
            )
    rng = np.random.default_rng(seed)
    folds = np.empty(len(labels), dtype=int)
    offset = 0
    for cls in np.unique(labels):
        members = np.flatnonzero(labels == cls)
        rng.shuffle(members)
        # Continue the round-robin where the previous class stopped, so fold sizes stay even.
        folds[members] = (np.arange(len(members)) + offset) % num_folds
        offset += len(members)
    return folds


def check_fold(fold: int, num_folds: int) -> int:
    """Validate a 0-based fold index."""
    if not isinstance(fold, int) or isinstance(fold, bool) or not 0 <= fold < num_folds:
        raise UserError(
            f"fold={fold}: out of range; folds are 0-based, so data.num_folds={num_folds} "
            f"allows fold=0..{num_folds - 1}"
        )
    return fold
