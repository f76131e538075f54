"""Load a torch file named by a config key, with one-line errors naming the key and the file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from vangogh_lightning.errors import UserError


def load_torch_file(path: str | Path, key: str, what: str, weights_only: bool, hint: str = "") -> Any:
    """``torch.load`` on CPU; a missing or unreadable file raises :class:`UserError`."""
    path = Path(path).expanduser()
    suffix = f"; {hint}" if hint else ""
    if not path.is_file():
        raise UserError(f"{key}={path}: {what} not found{suffix}")
    try:
        return torch.load(path, map_location="cpu", weights_only=weights_only)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means a bad file
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise UserError(f"{key}={path}: not a readable {what} ({type(exc).__name__}: {first[:120]})") from None
