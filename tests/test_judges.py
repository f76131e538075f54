"""A judge is reported with how well it can judge: its AUROC with a DeLong interval that matches a reference
implementation, a flag when it is no better than chance, its calibration, and its own operating point."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from vangogh_lightning.evaluation.judges import (
    assess,
    chance_warning,
    delong_interval,
    reliability,
    youden_threshold,
)

# 12 Van Gogh and 30 other paintings, probabilities rounded to two places (so with ties).
LABELS = [1] * 12 + [0] * 30
PROBS = [0.73, 0.62, 0.54, 0.7, 0.87, 0.48, 0.91, 0.83, 0.43, 0.66, 0.91, 0.4, 0.1, 0.35, 0.25, 0.14, 0.61, 0.05,
         0.48, 0.59, 0.44, 0.19, 0.31, 0.37, 0.07, 0.72, 0.42, 0.41, 0.22, 0.42, 0.04, 0.36, 0.67, 0.58, 0.2, 0.33,
         0.29, 0.26, 0.36, 0.18, 0.14, 0.42]


@pytest.mark.parametrize("confidence,low,high", [
    # confidenceinterval 1.0.4, roc_auc_score(y, p, confidence_level, method="delong") (AUC 0.9069444 in float32)
    (0.95, 0.8179577460914125, 0.9959310421318541),
    (0.90, 0.8322644449386576, 0.981624343284609),
])
def test_the_delong_interval_matches_a_reference_implementation(confidence, low, high):
    auc, lo, hi = delong_interval(PROBS, LABELS, confidence)
    assert auc == pytest.approx(0.9069444, abs=1e-6)
    assert (lo, hi) == pytest.approx((low, high), abs=1e-6)


def test_the_delong_interval_stays_within_0_and_1_and_needs_two_images_of_each_class():
    # reference: (0.7333, (0.3496, 1.1171)); an AUROC interval ends at 1
    auc, low, high = delong_interval([0.49, 0.48, 0.485, 0.48, 0.47, 0.49, 0.475, 0.482], [1, 1, 1, 0, 0, 0, 0, 0])
    assert (auc, low, high) == pytest.approx((0.7333333, 0.3495939, 1.0), abs=1e-6)
    assert math.isnan(delong_interval([0.9, 0.1, 0.2], [1, 0, 0])[1])  # one Van Gogh: no variance
    assert all(math.isnan(v) for v in delong_interval([0.9, 0.1], [0, 0]))  # one class: no AUROC


def test_the_own_threshold_maximises_youdens_j_and_prefers_the_higher_of_equals():
    p = [0.10, 0.20, 0.30, 0.40, 0.45, 0.47, 0.48, 0.49]
    y = [0, 0, 0, 0, 1, 0, 1, 1]
    assert youden_threshold(p, y) == 0.45  # TPR 1, FPR 1/5: J 0.8; 0.48: TPR 2/3, FPR 0 (J 0.67)
    assert youden_threshold([0.2, 0.8], [0, 1]) == 0.8  # 0.2 < t <= 0.8 all separate: the highest
    assert math.isnan(youden_threshold([0.2, 0.8], [1, 1]))


def test_the_ece_is_the_weighted_gap_of_the_reliability_bins():
    rng = np.random.default_rng(3)
    p = rng.uniform(0.01, 0.99, 4000).round(3) + 0.0004  # off the bin edges
    y = (rng.random(4000) < p**3).astype(int)  # over-confident: P(Van Gogh) is p^3, not p
    quality = assess(pd.DataFrame({"p_van_gogh": p, "label": y}), 0.5)
    bins = reliability(p, y)
    assert bins["images"].sum() == 4000 and len(bins) == 10
    gap = float((bins["images"] * (bins["mean_p"] - bins["van_gogh"]).abs()).sum() / 4000)
    assert quality.ece == pytest.approx(gap, abs=1e-6) and quality.ece > 0.1
    calibrated = (rng.random(4000) < p).astype(int)
    assert assess(pd.DataFrame({"p_van_gogh": p, "label": calibrated}), 0.5).ece < quality.ece / 4


def _quality(p, y, threshold=0.5):
    return assess(pd.DataFrame({"p_van_gogh": p, "label": y}), threshold)


def test_a_judge_that_cannot_judge_is_flagged_whatever_the_reason():
    ranks_well_says_never = _quality([0.48 + i / 1000 for i in range(20)], [0] * 10 + [1] * 10)
    assert ranks_well_says_never.auroc == 1.0
    assert "calls no out-of-fold painting Van Gogh" in ranks_well_says_never.no_better_than_chance
    assert _quality([0.48 + i / 1000 for i in range(20)], [0] * 10 + [1] * 10, 0.485).no_better_than_chance == ""
    says_always = _quality([0.6 + i / 100 for i in range(20)], [0] * 10 + [1] * 10)
    assert "calls every out-of-fold painting" in says_always.no_better_than_chance
    rng = np.random.default_rng(0)
    coin = _quality(rng.random(40), [0, 1] * 20)
    assert coin.low < 0.5 < coin.high and "includes 0.5" in coin.no_better_than_chance
    assert "one class only" in _quality([0.2, 0.9], [0, 0]).no_better_than_chance
    assert "too few" in _quality([0.2, 0.9, 0.8], [0, 1, 0]).no_better_than_chance
    good = _quality(PROBS, LABELS)
    assert good.no_better_than_chance == "" and chance_warning("VGG19", good) == ""
    assert chance_warning("VGG19", coin).startswith("the VGG19 judge is no better than chance: its out-of-fold AUROC")
    assert chance_warning("VGG19", coin).endswith("its Table 1 column cannot show deception")
