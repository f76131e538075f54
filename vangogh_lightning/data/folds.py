"""Stratified K-fold assignment with a fixed seed."""

from __future__ import annotations

import numpy as np
import pandas as pd

from vangogh_lightning.config.schema import fold_problem
from vangogh_lightning.core.errors import UserError

CLASS_NAMES = ("negative", "positive (Van Gogh)")


def _labelled_groups(labels: np.ndarray, groups: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """(each sample's group number, in order of first appearance; each group's label: 1 when any member is)."""
    labels = np.asarray(labels)
    codes, unique = pd.factorize(np.arange(len(labels)) if groups is None else np.asarray(groups))
    group_labels = np.zeros(len(unique), dtype=labels.dtype)
    np.maximum.at(group_labels, codes, labels)
    return codes, group_labels


def stratified_folds(labels: np.ndarray, num_folds: int, seed: int, groups: np.ndarray | None = None
                     ) -> np.ndarray:
    """Return each sample's fold (0..num_folds-1); every class is spread round-robin over folds.

    ``groups`` (one id per sample) keeps identical items together: all members of a group land in
    the same fold, so a painting listed twice is never on both sides of a split. A group counts
    as positive when any member is. Without groups every sample is its own group."""
    codes, group_labels = _labelled_groups(labels, groups)
    distinct = " (identical copies counted once)" if len(group_labels) < len(codes) else ""
    for cls in (0, 1):
        count = int((group_labels == cls).sum())
        if count < num_folds:
            raise UserError(f"data.num_folds={num_folds}: only {count} {CLASS_NAMES[cls]} image(s){distinct}, so some "
                            "validation fold would have none; add images or lower data.num_folds")
    rng = np.random.default_rng(seed)
    group_fold = np.empty(len(group_labels), dtype=int)
    offset = 0
    for cls in np.unique(group_labels):
        members = np.flatnonzero(group_labels == cls)
        rng.shuffle(members)
        # Continue the round-robin where the previous class stopped, so fold sizes stay even.
        group_fold[members] = (np.arange(len(members)) + offset) % num_folds
        offset += len(members)
    return group_fold[codes]


def held_out_test(labels: np.ndarray, fraction: float, seed: int, groups: np.ndarray | None = None) -> np.ndarray:
    """A boolean mask of the rows held out for testing: ``fraction`` of each class (at least one image of
    each), drawn with ``seed``, copies of one painting (``groups``) always on the same side.

    Drawn from its own random stream, so the folds built on the other rows do not depend on it."""
    codes, group_labels = _labelled_groups(labels, groups)
    rng = np.random.default_rng([seed, 0x7E57])  # ("test"): not the stream the folds draw from
    chosen: list[int] = []  # group numbers
    for cls in (0, 1):
        members = np.flatnonzero(group_labels == cls)
        count = max(1, round(fraction * len(members)))
        if count >= len(members):
            raise UserError(f"data.test_fraction={fraction}: only {len(members)} {CLASS_NAMES[cls]} image(s), too few "
                            "to hold any out for testing and train on the rest; add images or set data.test_fraction=0")
        chosen += rng.choice(members, size=count, replace=False).tolist()
    return np.isin(codes, chosen)


def shuffled_kfold(rows: np.ndarray, total: int, num_folds: int, seed: int) -> np.ndarray:
    """The report's split: scikit-learn's ``KFold(num_folds, shuffle=True, random_state=seed)``.

    The permutation is taken over all ``total`` rows the list had (the report's 6,307 filtered CSV
    rows) and ``rows`` are the positions of the rows kept, so an image dropped later (missing,
    unreadable) does not move any other image to another fold. Not stratified, and copies of one
    painting can land on both sides of a split, as in the report. Fold k here is the report's fold k+1."""
    if total < num_folds:
        raise UserError(f"data.num_folds={num_folds}: only {total} image(s); lower data.num_folds")
    fold_of_row = np.empty(total, dtype=int)
    # as KFold: cut the RandomState(seed) permutation into num_folds parts, the first total % num_folds one longer
    for fold, part in enumerate(np.array_split(np.random.RandomState(seed).permutation(total), num_folds)):
        fold_of_row[part] = fold
    return fold_of_row[np.asarray(rows, dtype=int)]


def check_fold(fold: int, num_folds: int) -> int:
    """Validate a 0-based fold index (the config's check, for folds chosen at run time)."""
    problem = fold_problem(fold, num_folds)
    if problem:
        raise UserError(problem)
    return fold
