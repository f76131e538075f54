"""Stratified K-fold assignment with a fixed seed."""

from __future__ import annotations

import numpy as np

from vangogh_lightning.config.schema import fold_problem
from vangogh_lightning.core.errors import UserError


def _labelled_groups(labels: np.ndarray, groups: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(each sample's group, the unique groups in order of first appearance, each group's label: 1 when
    any member is positive). Without ``groups`` every sample is its own group."""
    groups = np.arange(len(labels)) if groups is None else np.asarray(groups)
    _, first = np.unique(groups, return_index=True)
    order = np.sort(first)
    group_ids = groups[order]
    if len(order) == len(labels):
        return groups, group_ids, labels[order]
    return groups, group_ids, np.array([labels[groups == g].max() for g in group_ids])


def stratified_folds(labels: np.ndarray, num_folds: int, seed: int, groups: np.ndarray | None = None
                     ) -> np.ndarray:
    """Return each sample's fold (0..num_folds-1); every class is spread round-robin over folds.

    ``groups`` (one id per sample) keeps identical items together: all members of a group land in
    the same fold, so a painting listed twice is never on both sides of a split. A group counts
    as positive when any member is. Without groups every sample is its own group."""
    labels = np.asarray(labels)
    groups, group_ids, group_labels = _labelled_groups(labels, groups)
    distinct = " (identical copies counted once)" if len(group_ids) < len(labels) else ""
    for cls in (0, 1):
        count = int((group_labels == cls).sum())
        if count < num_folds:
            name = "positive (Van Gogh)" if cls == 1 else "negative"
            raise UserError(
                f"data.num_folds={num_folds}: only {count} {name} image(s){distinct}, so some validation fold "
                "would have none; add images or lower data.num_folds"
            )
    rng = np.random.default_rng(seed)
    group_fold = np.empty(len(group_ids), dtype=int)
    offset = 0
    for cls in np.unique(group_labels):
        members = np.flatnonzero(group_labels == cls)
        rng.shuffle(members)
        # Continue the round-robin where the previous class stopped, so fold sizes stay even.
        group_fold[members] = (np.arange(len(members)) + offset) % num_folds
        offset += len(members)
    fold_of_group = dict(zip(group_ids.tolist(), group_fold.tolist()))
    return np.array([fold_of_group[g] for g in groups.tolist()], dtype=int)


def held_out_test(labels: np.ndarray, fraction: float, seed: int, groups: np.ndarray | None = None) -> np.ndarray:
    """A boolean mask of the rows held out for testing: ``fraction`` of each class (at least one image of
    each), drawn with ``seed``, copies of one painting (``groups``) always on the same side.

    Drawn from its own random stream, so the folds built on the other rows do not depend on it."""
    groups, group_ids, group_labels = _labelled_groups(np.asarray(labels), groups)
    rng = np.random.default_rng([seed, 0x7E57])  # ("test"): not the stream the folds draw from
    chosen: list[int] = []
    for cls in (0, 1):
        members = np.flatnonzero(group_labels == cls)
        count = max(1, round(fraction * len(members)))
        if count >= len(members):
            name = "positive (Van Gogh)" if cls == 1 else "negative"
            raise UserError(f"data.test_fraction={fraction}: only {len(members)} {name} image(s), too few to hold "
                            "any out for testing and train on the rest; add images or set data.test_fraction=0")
        chosen += group_ids[rng.choice(members, size=count, replace=False)].tolist()
    return np.isin(groups, chosen)


def shuffled_kfold(rows: np.ndarray, total: int, num_folds: int, seed: int) -> np.ndarray:
    """The report's split: scikit-learn's ``KFold(num_folds, shuffle=True, random_state=seed)``.

    The permutation is taken over all ``total`` rows the list had (the report's 6,307 filtered CSV
    rows) and ``rows`` are the positions of the rows kept, so an image dropped later (missing,
    unreadable) does not move any other image to another fold. Not stratified, and copies of one
    painting can land on both sides of a split, as in the report. Fold k here is the report's fold k+1."""
    if total < num_folds:
        raise UserError(f"data.num_folds={num_folds}: only {total} image(s); lower data.num_folds")
    # KFold: shuffle arange(total) with RandomState(seed), then cut it into num_folds contiguous
    # parts, the first total % num_folds of them one longer.
    order = np.random.RandomState(seed).permutation(total)
    sizes = np.full(num_folds, total // num_folds)
    sizes[: total % num_folds] += 1
    fold_of_row = np.empty(total, dtype=int)
    fold_of_row[order] = np.repeat(np.arange(num_folds), sizes)
    return fold_of_row[np.asarray(rows, dtype=int)]


def check_fold(fold: int, num_folds: int) -> int:
    """Validate a 0-based fold index (the config's check, for folds chosen at run time)."""
    problem = fold_problem(fold, num_folds)
    if problem:
        raise UserError(problem)
    return fold
