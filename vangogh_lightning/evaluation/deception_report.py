"""Table 1's files: the Markdown page (the report's rows first) and the tables behind it."""

from __future__ import annotations

import pandas as pd

from vangogh_lightning.core.markdown import to_markdown
from vangogh_lightning.evaluation.deception import shares_as_text

INTERVAL_NAMES = {"wilson": "Wilson", "clopper_pearson": "Clopper–Pearson"}
TARGETED_NOTE = ("Columns 'aimed at X': transfers optimised against judge X as well (stylize.py judge=...). X's row "
                 "measures how adversarial they are to the network they were aimed at; the other judge's row, held "
                 "out, whether they look like Van Gogh to another network too.")


def deception_markdown(threshold: float, confidence: float, method: str, rates: pd.DataFrame,
                       tests: pd.DataFrame, spread: pd.DataFrame, notes: list[str], curve_file: str | None) -> str:
    """The whole result as one Markdown page."""
    parts = [f"# Deception rate (threshold {threshold})\n",
             f"Each cell: share judged Van Gogh (k/n; {confidence:.0%} {INTERVAL_NAMES[method]} interval). "
             "Transfers first, then the controls, judged by the same classifiers at the same threshold.\n"]
    if (rates["kind"] == "targeted").any():
        parts.append(f"{TARGETED_NOTE}\n")
    parts.append(to_markdown(shares_as_text(rates), index=True))
    if not tests.empty:
        parts.append("\n## Is the difference more than chance? (exact McNemar on paired verdicts)\n")
        parts += ["`only_first` / `only_second`: pairs in which only the first / only the second said Van Gogh.\n",
                  to_markdown(tests.drop(columns=["sentence"]), index=False, floatfmt=".3g"),
                  *[f"- {s}" for s in tests["sentence"]]]
    if not spread.empty:
        shown = spread.assign(**{"mean ± sd": [f"{m:.0%} ± {s:.0%}" for m, s in zip(spread["mean"], spread["sd"])],
                                 "min–max": [f"{a:.0%}–{b:.0%}" for a, b in zip(spread["min"], spread["max"])]})
        parts += ["\n## Every fold as a judge (share judged Van Gogh, across the fold classifiers)\n",
                  to_markdown(shown[["judge", "set", "folds", "mean ± sd", "min–max"]], index=False)]
    if curve_file:
        parts.append(f"\n![each rate against the threshold]({curve_file})\n")
    if notes:
        parts += ["\n## Notes\n", *[f"- {n}" for n in notes]]
    return "\n".join(parts) + "\n"

