"""Plain Markdown tables (no extra dependency)."""

from __future__ import annotations

import pandas as pd


def to_markdown(frame: pd.DataFrame, index: bool = False, floatfmt: str = ".4f") -> str:
    """Render a DataFrame as a GitHub Markdown table."""
    if index:
        frame = frame.reset_index()

    def fmt(value) -> str:
        if isinstance(value, float):
            return format(value, floatfmt)
        return str(value)

    header = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(fmt(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *body]) + "\n"
