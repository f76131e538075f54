"""The one device helper: a ``device=`` setting as a torch device, and as Lightning Trainer arguments."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vangogh_lightning.core.errors import UserError

if TYPE_CHECKING:
    import torch


def pick_device(name: str) -> torch.device:
    """'auto' -> CUDA when available, else CPU; a CUDA device that is not there is a one-line error."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"device={name}: CUDA is not available here; use device=cpu or device=auto")
    return torch.device(name)


def trainer_device(device: torch.device) -> dict[str, Any]:
    """``accelerator`` and ``devices`` for a one-device ``lightning.Trainer`` on ``device``."""
    if device.type == "cuda":
        return {"accelerator": "gpu", "devices": [device.index or 0]}
    return {"accelerator": device.type, "devices": 1}
