"""Command-line overrides built from names nobody chose for Hydra: file and folder paths.

A path is data, not config: it must reach the child script as written, whatever it holds. Each
value is single-quoted for Hydra's override grammar (so ``,`` ``=`` ``[`` spaces and non-ASCII
letters are plain characters) and escaped for OmegaConf (so ``${oc.env:WANDB_API_KEY}`` in a file
name stays those characters and is never evaluated)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from os import PathLike


def quote_value(value: str | PathLike) -> str:
    """``value`` as one quoted Hydra override value that parses and resolves back to exactly ``value``."""
    text = str(value)
    # OmegaConf: "${" starts an interpolation unless escaped as "\${"; backslashes before it are doubled.
    text = re.sub(r"(\\*)\$\{", lambda m: m.group(1) * 2 + "\\${", text)
    # Hydra's quoted string: backslashes before a quote or at the end are doubled, the quote escaped.
    text = re.sub(r"(\\+)(?='|$)", lambda m: m.group(1) * 2, text)
    return "'" + text.replace("'", "\\'") + "'"


def quote_list(values: Iterable[str | PathLike]) -> str:
    """A Hydra list override value whose items are each :func:`quote_value`."""
    return "[" + ",".join(quote_value(v) for v in values) + "]"


def override(key: str, value: str | PathLike) -> str:
    """``key='value'``, quoted as :func:`quote_value` does."""
    return f"{key}={quote_value(value)}"
