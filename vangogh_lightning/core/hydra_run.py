"""The Hydra run this process is part of, if any (no torch)."""

from __future__ import annotations

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode


def in_multirun() -> bool:
    """True inside a Hydra multirun job (sweeps need exceptions to mark trials failed)."""
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN
