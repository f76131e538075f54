"""Plain Markdown tables (no extra dependency)."""

from __future__ import annotations

import pandas as pd


def to_markdown(frame: pd.DataFrame, index: bool = False, floatfmt: str = ".4f") -> str:
    """Render a DataFrame as a GitHub Markdown table."""
    if index:
        frame = frame.reset_index()
    header = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(format(v, floatfmt) if isinstance(v, float) else str(v) for v in row) + " |"
            for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *body]) + "\n"
