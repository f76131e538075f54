"""Load torch files (checkpoints, weights) without ever running code from them.

Every file the product reads with ``torch.load`` may come from someone else, so each is loaded
with ``weights_only=True``: tensors, plain containers and numbers only. A pickle that would build
any other object (and could run code while doing so) is refused with a one-line error instead."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vangogh_lightning.core.errors import UserError


def require_file(path: str | Path, key: str, what: str, hint: str = "") -> Path:
    """``path`` is a file, else :class:`UserError` naming ``key`` (needs no torch: used before it is imported)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise UserError(f"{key}={path}: {what} not found" + (f"; {hint}" if hint else ""))
    return path


def load_torch_file(path: str | Path, key: str, what: str, hint: str = "", mmap: bool = False) -> Any:
    """``torch.load(weights_only=True)`` on CPU; a missing, unreadable or unsafe file raises :class:`UserError`.

    ``mmap=True`` maps tensors instead of reading them (cheap for a check of a large checkpoint)."""
    import torch

    path = require_file(path, key, what, hint)
    suffix = f"; {hint}" if hint else ""
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means a bad or unsafe file
        if "GLOBAL" in str(exc) or "Unsupported global" in str(exc):  # a class or function reference
            raise UserError(
                f"{key}={path}: refused: the file holds Python objects other than tensors and plain values, "
                f"and loading it could run code; use a {what} written by this project{suffix}"
            ) from None
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        if lines and lines[0].startswith("Weights only load failed"):  # skip torch's boilerplate
            lines = [line for line in lines if line.startswith(("Unsupported", "Trying"))]
        first = lines[0] if lines else ""
        raise UserError(f"{key}={path}: not a readable {what}, nor any file written by torch.save "
                        f"({type(exc).__name__}: {first[:100]}){suffix}") from None


def load_state_problem(exc: RuntimeError) -> str:
    """The first thing torch's ``load_state_dict`` found wrong (its first line names no tensor)."""
    lines = str(exc).splitlines()
    return (lines[1:] or lines)[0].strip().rstrip(".")


def first_non_finite(named: Any) -> str | None:
    """The name of the first floating-point tensor holding a NaN or an infinity in ``named`` (a
    state dict, or (name, tensor) pairs); None when all are finite."""
    import torch

    for name, tensor in (named.items() if isinstance(named, dict) else named):
        if torch.is_tensor(tensor) and tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            return name
    return None


def check_checkpoint_file(path: str | Path, key: str) -> Path:
    """A Lightning checkpoint that resumes training: readable, safe, with a ``state_dict``."""
    raw = load_torch_file(path, key, "checkpoint", mmap=True)
    if not isinstance(raw, dict) or "state_dict" not in raw or "loops" not in raw:
        raise UserError(f"{key}={path}: not a resumable training checkpoint (from train.py: "
                        "<run>/fold_<k>/checkpoints/last.ckpt); or use ckpt_path=last")
    return Path(path)
