"""The statistics behind Table 1, from statsmodels: intervals on shares and means, exact McNemar."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from vangogh_lightning.config.schema import IntervalMethod

# statsmodels' names for the interval methods the config offers.
_STATSMODELS_METHOD = {"wilson": "wilson", "clopper_pearson": "beta"}


@dataclass(frozen=True)
class Share:
    """``k`` of ``n`` with a confidence interval for the underlying rate."""

    k: int
    n: int
    low: float
    high: float

    @property
    def share(self) -> float:
        return self.k / self.n if self.n else math.nan

    def text(self) -> str:
        """``35% (7/20; 15–59%)``: the share, k/n and the interval."""
        if not self.n:
            return "–"
        return f"{self.share:.0%} ({self.k}/{self.n}; {100 * self.low:.0f}–{100 * self.high:.0f}%)"


def share_interval(k: int, n: int, confidence: float = 0.95, method: IntervalMethod = "wilson") -> Share:
    """``k`` successes of ``n`` with a two-sided ``confidence`` interval (Wilson or Clopper–Pearson)."""
    from statsmodels.stats.proportion import proportion_confint

    if n == 0:
        return Share(0, 0, math.nan, math.nan)
    low, high = proportion_confint(k, n, alpha=1 - confidence, method=_STATSMODELS_METHOD[method])
    # Both methods end exactly at 0 for k = 0 and at 1 for k = n; keep rounding error off those ends.
    return Share(int(k), int(n), 0.0 if k == 0 else float(low), 1.0 if k == n else float(high))


def mean_interval(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high): the t interval of a mean (NaN bounds below two values)."""
    from statsmodels.stats.weightstats import DescrStatsW

    data = np.asarray(values, dtype=float)
    if data.size == 0:
        return math.nan, math.nan, math.nan
    if data.size < 2 or np.all(data == data[0]):
        return float(data.mean()), math.nan, math.nan
    low, high = DescrStatsW(data).tconfint_mean(alpha=1 - confidence)
    return float(data.mean()), float(low), float(high)


@dataclass(frozen=True)
class PairedTest:
    """Exact McNemar test on paired yes/no verdicts: ``only_first`` pairs say yes for the first of the
    two conditions only, ``only_second`` for the second only; ``pairs`` in all."""

    pairs: int
    only_first: int
    only_second: int
    p_value: float

    def distinguishable(self, level: float = 0.05) -> bool:
        return self.p_value < level


def mcnemar_exact(first: Sequence[bool], second: Sequence[bool]) -> PairedTest:
    """Exact (binomial) McNemar test of two paired verdict sequences (same items, same order)."""
    from statsmodels.stats.contingency_tables import mcnemar

    a, b = np.asarray(first, dtype=bool), np.asarray(second, dtype=bool)
    if a.shape != b.shape:
        raise ValueError("paired verdicts must have the same length")
    table = [[int((a & b).sum()), int((a & ~b).sum())], [int((~a & b).sum()), int((~a & ~b).sum())]]
    only_first, only_second = table[0][1], table[1][0]
    p_value = 1.0 if only_first + only_second == 0 else float(mcnemar(table, exact=True).pvalue)
    return PairedTest(len(a), only_first, only_second, p_value)
