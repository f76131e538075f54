"""Tables over out-of-fold predictions (``fold_<k>/oof_predictions.csv``): confusion, artists taken for Van Gogh."""

from __future__ import annotations

import pandas as pd


def confusion(frame: pd.DataFrame) -> dict[str, int]:
    """True/false positives/negatives of out-of-fold predictions."""
    label, pred = frame["label"].astype(int), frame["predicted"].astype(int)
    return {"tp": int(((label == 1) & (pred == 1)).sum()), "fn": int(((label == 1) & (pred == 0)).sum()),
            "fp": int(((label == 0) & (pred == 1)).sum()), "tn": int(((label == 0) & (pred == 0)).sum())}


def artists_taken_for_van_gogh(frame: pd.DataFrame, top: int = 10) -> pd.DataFrame:
    """Other artists whose paintings were judged Van Gogh most often: count, share of their paintings."""
    others = frame[frame["label"] == 0]
    if others.empty:
        return pd.DataFrame(columns=["artist", "taken_for_van_gogh", "paintings", "share"])
    grouped = others.groupby("artist")["predicted"].agg(["sum", "count"]).reset_index()
    grouped.columns = ["artist", "taken_for_van_gogh", "paintings"]
    grouped["share"] = grouped["taken_for_van_gogh"] / grouped["paintings"]
    grouped = grouped[grouped["taken_for_van_gogh"] > 0]
    return grouped.sort_values(["taken_for_van_gogh", "share"], ascending=False).head(top).reset_index(drop=True)
