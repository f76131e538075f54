"""Checkpoint the random number generators so a resumed fit continues the same random stream."""

from __future__ import annotations

import random
from typing import Any

import lightning as L
import numpy as np
import torch


class RngStateCallback(L.Callback):
    """Saves Python, NumPy and torch (CPU and CUDA) RNG states in every checkpoint and restores them.

    With this, ``ckpt_path=last`` reproduces an uninterrupted run: shuffling, augmentation (with
    ``num_workers=0`` or non-persistent workers, whose seeds come from the restored state) and dropout.
    """

    def state_dict(self) -> dict[str, Any]:
        name, keys, pos, has_gauss, cached = np.random.get_state()
        # Plain Python values only: Lightning loads checkpoints with torch.load(weights_only=True).
        state = {"python": random.getstate(), "numpy": [name, keys.tolist(), pos, has_gauss, cached],
                 "torch": torch.get_rng_state()}
        if torch.cuda.is_available():
            state["cuda"] = torch.cuda.get_rng_state_all()
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        random.setstate(state_dict["python"])
        name, keys, pos, has_gauss, cached = state_dict["numpy"]
        np.random.set_state((name, np.array(keys, dtype=np.uint32), pos, has_gauss, cached))
        torch.set_rng_state(state_dict["torch"])
        if "cuda" in state_dict and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state_dict["cuda"])
