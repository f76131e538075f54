"""Table 1's numbers: the share of each image set judged Van Gogh by each judge and by all, with intervals
(statsmodels), and exact McNemar tests of paired verdicts (between transfer backbones, aimed and plain transfers,
judges). The judges are the registered backbones (Table 1's order) unless a call names them."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from vangogh_lightning.config.schema import IntervalMethod
from vangogh_lightning.core.backbone_registry import backbone_names, title_of

# statsmodels' names for the interval methods the config offers, and the names the pages print.
_STATSMODELS_METHOD = {"wilson": "wilson", "clopper_pearson": "beta"}
INTERVAL_NAMES = {"wilson": "Wilson", "clopper_pearson": "Clopper–Pearson"}
LEVEL = 0.05


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
        return f"{self.share:.0%} ({self.k}/{self.n}; {100 * self.low:.0f}–{100 * self.high:.0f}%)" if self.n else "–"


def share_interval(k: int, n: int, confidence: float = 0.95, method: IntervalMethod = "wilson") -> Share:
    """``k`` successes of ``n`` with a two-sided ``confidence`` interval (Wilson or Clopper–Pearson)."""
    from statsmodels.stats.proportion import proportion_confint

    if n == 0:
        return Share(0, 0, math.nan, math.nan)
    low, high = proportion_confint(k, n, alpha=1 - confidence, method=_STATSMODELS_METHOD[method])
    # Both methods end exactly at 0 for k = 0 and at 1 for k = n; keep rounding error off those ends.
    return Share(int(k), int(n), 0.0 if k == 0 else float(low), 1.0 if k == n else float(high))


def mean_interval(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high): the t interval of a mean of probabilities, kept within [0, 1] (NaN bounds below two
    values)."""
    from statsmodels.stats.weightstats import DescrStatsW

    data = np.asarray(values, dtype=float)
    mean = float(data.mean()) if data.size else math.nan
    if data.size < 2 or np.all(data == data[0]):
        return mean, math.nan, math.nan
    low, high = DescrStatsW(data).tconfint_mean(alpha=1 - confidence)
    return mean, max(0.0, float(low)), min(1.0, float(high))


@dataclass(frozen=True)
class PairedTest:
    """Exact McNemar test on ``pairs`` paired yes/no verdicts; ``only_first``/``only_second``: yes for one only."""

    pairs: int
    only_first: int
    only_second: int
    p_value: float


def mcnemar_exact(first: Sequence[bool], second: Sequence[bool]) -> PairedTest:
    """Exact (binomial) McNemar test of two paired verdict sequences (same items, same order)."""
    from statsmodels.stats.contingency_tables import mcnemar

    a, b = np.asarray(first, dtype=bool), np.asarray(second, dtype=bool)
    if a.shape != b.shape:
        raise ValueError("paired verdicts must have the same length")
    only_first, only_second = int((a & ~b).sum()), int((~a & b).sum())  # all the exact test (the default) reads
    p_value = 1.0 if only_first + only_second == 0 else float(mcnemar([[0, only_first], [only_second, 0]]).pvalue)
    return PairedTest(len(a), only_first, only_second, p_value)


def _judges(judges: Sequence[str] | None) -> tuple[str, ...]:
    return backbone_names() if judges is None else tuple(judges)


def judge_row(judge: str) -> str:
    """Table 1's row of one judge: 'VGG19 identified as Van Gogh'."""
    return f"{title_of(judge)} identified as Van Gogh"


def conditions(judges: Sequence[str] | None = None) -> tuple[str, ...]:
    """Table 1's rows: the report's (one per judge, then 'Both models agreed'), then the images only some
    of the judges took for Van Gogh and those none did (the last three add up to one)."""
    judges = _judges(judges)
    agreement = (("Both models agreed", "Only one of them", "Neither") if len(judges) == 2 else
                 ("All models agreed", "Only some of them", "None of them"))
    return (*map(judge_row, judges), *agreement)


def condition_masks(verdicts: pd.DataFrame, judges: Sequence[str] | None = None) -> dict[str, pd.Series]:
    """Per condition of :func:`conditions`, which images of ``verdicts`` meet it."""
    judges = _judges(judges)
    said = verdicts[list(judges)].astype(bool)
    every, some = said.all(axis=1), said.any(axis=1)
    agreed, partly, none = conditions(judges)[len(judges):]
    return {**{judge_row(j): said[j] for j in judges}, agreed: every, partly: some & ~every, none: ~some}


def _set_names(verdicts: pd.DataFrame) -> pd.Series:
    """Each verdict's image set: its ``set`` column, or '<transfer> transfer'."""
    return verdicts["set"] if "set" in verdicts else verdicts["transfer"].astype(str) + " transfer"


def deception_table(verdicts: pd.DataFrame, judges: Sequence[str] | None = None) -> pd.DataFrame:
    """Rows = condition (then ``images``), columns = image set, values = share in [0, 1]; ``verdicts``: one row
    per image with a ``transfer`` (or ``set``) column and a boolean column per judge."""
    by_set = pd.DataFrame(condition_masks(verdicts, judges)).groupby(_set_names(verdicts).to_numpy(), sort=False)
    return by_set.mean().assign(images=by_set.size()).T


def rate_rows(verdicts: pd.DataFrame, confidence: float, method: IntervalMethod,
              judges: Sequence[str] | None = None) -> pd.DataFrame:
    """Table 1 in long form: one row per (image set, condition) with ``k`` of ``n`` images, the share and
    its interval (``low``, ``high``); judge rows also carry the mean P(Van Gogh) and its t interval."""
    judges = _judges(judges)
    rows = []
    for name, group in verdicts.groupby(_set_names(verdicts), sort=False):
        means = {judge_row(j): mean_interval(group[f"p_{j}"], confidence) for j in judges}
        for condition, mask in condition_masks(group, judges).items():
            share = share_interval(int(mask.sum()), len(group), confidence, method)
            mean, low, high = means.get(condition, (math.nan,) * 3)
            rows.append({"set": name, "kind": group["kind"].iloc[0] if "kind" in group else "transfer",
                         "condition": condition, "k": share.k, "n": share.n, "share": share.share, "low": share.low,
                         "high": share.high, "mean_p": mean, "mean_p_low": low, "mean_p_high": high})
    return pd.DataFrame(rows)


def shares_as_text(rates: pd.DataFrame, judges: Sequence[str] | None = None) -> pd.DataFrame:
    """The long table as Table 1 reads: conditions down, image sets across, '35% (7/20; 18–57%)' cells,
    then the image count and each judge's mean P(Van Gogh) with its interval."""
    judges, sets = _judges(judges), list(dict.fromkeys(rates["set"]))
    cells = rates.assign(text=[Share(int(r.k), int(r.n), r.low, r.high).text() for r in rates.itertuples()])
    table = cells.pivot(index="condition", columns="set", values="text").loc[list(conditions(judges)), sets]
    by_judge = {j: rates[rates["condition"] == judge_row(j)].set_index("set").loc[sets] for j in judges}
    table.loc["images"] = [str(int(n)) for n in by_judge[judges[0]]["n"]]
    for judge, row in by_judge.items():
        table.loc[f"mean P(Van Gogh), {title_of(judge)}"] = [
            f"{m:.2f}" + ("" if math.isnan(low) else f" ({low:.2f}–{high:.2f})")
            for m, low, high in zip(row["mean_p"], row["mean_p_low"], row["mean_p_high"])]
    return table.rename_axis(columns=None)


def _row(comparison: str, on: str, first: pd.Series, second: pd.Series, what: str, first_name: str,
         second_name: str) -> dict:
    """One test's row: exact McNemar of the paired verdicts ``first`` and ``second``, with its sentence."""
    test = mcnemar_exact(first.to_numpy(), second.to_numpy())
    distinguishable = test.p_value < LEVEL
    sentence = (f"{what}: {first_name} {first.mean():.0%} vs {second_name} {second.mean():.0%} of {test.pairs} "
                f"paired images; exact McNemar p = {test.p_value:.3g}, "
                f"{'' if distinguishable else 'not '}distinguishable from chance at 5 %.")
    return {"comparison": comparison, "on": on, "pairs": test.pairs, "only_first": test.only_first,
            "only_second": test.only_second, "p_value": test.p_value, "distinguishable": distinguishable,
            "sentence": sentence}


def _by_pair(verdicts: pd.DataFrame) -> pd.DataFrame:
    return verdicts.drop_duplicates("pair").set_index("pair")


def transfer_tests(verdicts: pd.DataFrame, judges: Sequence[str]) -> tuple[pd.DataFrame, list[str]]:
    """Per two transfer sets and per judge, exact McNemar on the images made from the same photo and
    style (``pair`` column); a note instead of a test when nothing pairs."""
    transfers = list(dict.fromkeys(verdicts["transfer"]))
    if len(transfers) < 2:
        return pd.DataFrame(), [f"paired tests: {len(transfers)} transfer set(s); a test needs two"]
    rows, notes = [], []
    for a, b in itertools.combinations(transfers, 2):
        left, right = (_by_pair(verdicts[verdicts["transfer"] == t]) for t in (a, b))
        pairs = left.index.intersection(right.index)
        if len(pairs) == 0:
            notes.append(f"paired tests between transfers: the {a} and {b} transfers share no content photo "
                         "(with the same style), so no paired test; stylize the same photos with both backbones")
            continue
        unpaired = len(left) + len(right) - 2 * len(pairs)
        if unpaired:
            which = f" ({a} vs {b})" if len(transfers) > 2 else ""
            notes.append(f"paired tests between transfers{which}: {unpaired} image(s) without a partner left out")
        first, second = f"{a} transfers", f"{b} transfers"
        rows += [_row(f"{first} vs {second}", f"judged by {title_of(j)}", left.loc[pairs, j], right.loc[pairs, j],
                      f"{title_of(j)} judge", first, second) for j in judges]
    return pd.DataFrame(rows), notes


def targeted_tests(verdicts: pd.DataFrame, judges: Sequence[str]) -> pd.DataFrame:
    """Per set of transfers aimed at a judge, and per judge (aimed at, or held out): exact McNemar against the
    plain transfers of the same photos by the same backbone."""
    rows = []
    plain_sets, aimed_sets = verdicts[verdicts["aimed_at"].isna()], verdicts[verdicts["aimed_at"].notna()]
    for name, aimed in aimed_sets.groupby("set", sort=False):
        plain = _by_pair(plain_sets[plain_sets["transfer"] == aimed["transfer"].iloc[0]])
        target, aimed = aimed["aimed_at"].iloc[0], _by_pair(aimed)
        pairs = aimed.index.intersection(plain.index)
        if len(pairs) == 0:
            continue
        for judge in judges:
            role = "aimed at" if judge == target else "held out"
            rows.append(_row(f"{name} vs plain", f"judged by {title_of(judge)} ({role})", aimed.loc[pairs, judge],
                             plain.loc[pairs, judge], f"{title_of(judge)} judge ({role})", name, "plain transfers"))
    return pd.DataFrame(rows)


def judge_tests(verdicts: pd.DataFrame, judges: Sequence[str]) -> pd.DataFrame:
    """Per image set and per two judges, exact McNemar between their verdicts on the same images."""
    rows = []
    for name, group in verdicts.groupby("set", sort=False):
        for first, second in itertools.combinations(judges, 2):
            a, b = title_of(first), title_of(second)
            rows.append(_row(f"{a} vs {b} judge", name, group[first], group[second], name, f"{a} says Van Gogh", b))
    return pd.DataFrame(rows)
