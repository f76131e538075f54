"""Is a difference in Table 1 more than chance? Paired tests and the spread across fold judges.

- Between the transfer backbones, per judge: do AlexNet transfers pass as Van Gogh more often than
  VGG-19 transfers *of the same photo with the same style*? Exact McNemar on the paired verdicts.
- Between the judges, per image set: does one classifier say Van Gogh more often than the other on the
  same images? Exact McNemar again.
- Every fold's classifier as a judge: the mean, standard deviation and range of each rate across
  folds, so a reader sees how much the table depends on the fold the selection rule picked.
"""

from __future__ import annotations

import statistics

import pandas as pd

from vangogh_lightning.core.backbone_registry import title_of
from vangogh_lightning.evaluation.statistics import mcnemar_exact

LEVEL = 0.05


def _sentence(what: str, first: str, second: str, share_first: float, share_second: float, pairs: int,
              p_value: float) -> str:
    verdict = "distinguishable from chance" if p_value < LEVEL else "not distinguishable from chance"
    return (f"{what}: {first} {share_first:.0%} vs {second} {share_second:.0%} of {pairs} paired images; "
            f"exact McNemar p = {p_value:.3g}, {verdict} at 5 %.")


def transfer_tests(verdicts: pd.DataFrame, judges: tuple[str, ...]) -> tuple[pd.DataFrame, list[str]]:
    """Per judge, exact McNemar between the two transfer sets on the images made from the same photo
    and style (``pair`` column); a note instead of a test when nothing pairs."""
    transfers = list(dict.fromkeys(verdicts["transfer"]))
    if len(transfers) != 2:
        return pd.DataFrame(), [f"paired tests: {len(transfers)} transfer set(s); a test needs two"]
    a, b = transfers
    left = verdicts[verdicts["transfer"] == a].drop_duplicates("pair").set_index("pair")
    right = verdicts[verdicts["transfer"] == b].drop_duplicates("pair").set_index("pair")
    pairs = left.index.intersection(right.index)
    notes = []
    if len(pairs) == 0:
        return pd.DataFrame(), [f"paired tests between transfers: the {a} and {b} transfers share no content photo "
                                "(with the same style), so no paired test; stylize the same photos with both "
                                "backbones"]
    unpaired = len(left) + len(right) - 2 * len(pairs)
    if unpaired:
        notes.append(f"paired tests between transfers: {unpaired} image(s) without a partner left out")
    rows = []
    for judge in judges:
        test = mcnemar_exact(left.loc[pairs, judge].to_numpy(), right.loc[pairs, judge].to_numpy())
        title, first, second = title_of(judge), f"{a} transfers", f"{b} transfers"
        rows.append(_row(f"{first} vs {second}", f"judged by {title}", test,
                         _sentence(f"{title} judge", first, second, left.loc[pairs, judge].mean(),
                                   right.loc[pairs, judge].mean(), test.pairs, test.p_value)))
    return pd.DataFrame(rows), notes


def _row(comparison: str, on: str, test, sentence: str) -> dict:
    return {"comparison": comparison, "on": on, "pairs": test.pairs, "only_first": test.only_first,
            "only_second": test.only_second, "p_value": test.p_value,
            "distinguishable": test.distinguishable(LEVEL), "sentence": sentence}


def targeted_tests(verdicts: pd.DataFrame, judges: tuple[str, ...]) -> pd.DataFrame:
    """Per set of transfers aimed at a judge, and per judge: exact McNemar against the plain transfers
    of the same photos by the same backbone. The aimed-at judge's row says whether the aim worked on it;
    the held-out judge's whether it carries over to another network."""
    rows = []
    plain_sets, aimed_sets = verdicts[verdicts["aimed_at"].isna()], verdicts[verdicts["aimed_at"].notna()]
    for name, aimed in aimed_sets.groupby("set", sort=False):
        plain = plain_sets[plain_sets["transfer"] == aimed["transfer"].iloc[0]]
        plain, aimed = plain.drop_duplicates("pair").set_index("pair"), aimed.drop_duplicates("pair").set_index("pair")
        pairs = aimed.index.intersection(plain.index)
        if len(pairs) == 0:
            continue
        target = aimed["aimed_at"].iloc[0]
        for judge in judges:
            test = mcnemar_exact(aimed.loc[pairs, judge].to_numpy(), plain.loc[pairs, judge].to_numpy())
            role = "aimed at" if judge == target else "held out"
            title = f"{title_of(judge)} judge ({role})"
            rows.append(_row(f"{name} vs plain", f"judged by {title_of(judge)} ({role})", test,
                             _sentence(title, name, "plain transfers", aimed.loc[pairs, judge].mean(),
                                       plain.loc[pairs, judge].mean(), test.pairs, test.p_value)))
    return pd.DataFrame(rows)


def judge_tests(verdicts: pd.DataFrame, judges: tuple[str, ...]) -> pd.DataFrame:
    """Per image set, exact McNemar between the two judges' verdicts on the same images."""
    first, second = judges
    titles = title_of(first), title_of(second)
    rows = []
    for name, group in verdicts.groupby("set", sort=False):
        test = mcnemar_exact(group[first].to_numpy(), group[second].to_numpy())
        rows.append(_row(f"{titles[0]} vs {titles[1]} judge", name, test,
                         _sentence(name, f"{titles[0]} says Van Gogh", titles[1], group[first].mean(),
                                   group[second].mean(), test.pairs, test.p_value)))
    return pd.DataFrame(rows)


def fold_rates(per_fold: list[tuple[str, int, pd.DataFrame]]) -> pd.DataFrame:
    """One row per (judge, fold, image set): ``k`` of ``n`` judged Van Gogh. ``per_fold`` holds
    (judge, fold, frame of ``set`` and the boolean verdict column ``van_gogh``)."""
    rows = []
    for judge, fold, frame in per_fold:
        for name, group in frame.groupby("set", sort=False):
            rows.append({"judge": judge, "fold": fold, "set": name, "k": int(group["van_gogh"].sum()),
                         "n": len(group), "share": float(group["van_gogh"].mean())})
    return pd.DataFrame(rows, columns=["judge", "fold", "set", "k", "n", "share"])


def fold_spread(rates: pd.DataFrame) -> pd.DataFrame:
    """Per (judge, image set) judged by two or more folds: their number, mean ± sd and min–max of the rate."""
    rows = []
    for (judge, name), group in rates.groupby(["judge", "set"], sort=False):
        shares = group["share"].tolist()
        if len(shares) < 2:
            continue
        rows.append({"judge": title_of(judge), "set": name, "folds": len(shares),
                     "mean": statistics.fmean(shares), "sd": statistics.stdev(shares),
                     "min": min(shares), "max": max(shares)})
    return pd.DataFrame(rows, columns=["judge", "set", "folds", "mean", "sd", "min", "max"])
