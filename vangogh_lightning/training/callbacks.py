"""The callbacks of one fold's fit (the configured ones and the RNG state) and its checkpoint I/O."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from hydra.utils import instantiate
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.plugins.io import TorchCheckpointIO
from omegaconf import DictConfig

from vangogh_lightning.core.atomic import atomic_write

# The callback entries (conf/callbacks/default.yaml) whose files a `checkpoints.*` setting drops.
BEST_CHECKPOINT, RESUME_CHECKPOINT = "model_checkpoint", "last_checkpoint"


class RngStateCallback(L.Callback):
    """Saves Python, NumPy and torch (CPU and CUDA) RNG states in every checkpoint and restores them, so
    ``ckpt_path=last`` reproduces an uninterrupted run (Lightning's ``_collect_rng_states`` is private)."""

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


class AtomicCheckpointIO(TorchCheckpointIO):
    """``TorchCheckpointIO`` whose saves are atomic and whose loads never run code from the file."""

    def load_checkpoint(self, path: str | Path, map_location: Any | None = None,
                        weights_only: bool | None = None) -> dict[str, Any]:
        # Resuming reads a user-named file: tensors and plain values only, whatever the caller asks.
        return super().load_checkpoint(path, map_location=map_location, weights_only=True)

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | Path,
                        storage_options: Any | None = None) -> None:
        atomic_write(path, lambda tmp: torch.save(checkpoint, tmp))


def fold_callbacks(fold_cfg: DictConfig, extra: list[L.Callback] | None = None) -> list[L.Callback]:
    """The configured callbacks, without the checkpoint writers whose files nothing keeps or reads
    (search trials: ``checkpoints.keep_best=false`` drops best.ckpt, ``resume_point=false`` last.ckpt)."""
    dropped = {BEST_CHECKPOINT} if fold_cfg.checkpoints.keep_best is False else set()
    if not fold_cfg.checkpoints.resume_point:
        dropped.add(RESUME_CHECKPOINT)
    callbacks = [instantiate(entry) for name, entry in (fold_cfg.callbacks or {}).items()
                 if entry is not None and name not in dropped]
    return [*callbacks, RngStateCallback(), *(extra or [])]


def tracked_best(trainer: L.Trainer, monitor: str) -> tuple[Any, str | None]:
    """The fold's best monitored value and the best checkpoint written (best.ckpt; None when none was)."""
    ckpt = next((c for c in trainer.callbacks if isinstance(c, ModelCheckpoint) and c.monitor is not None), None)
    if ckpt is not None and ckpt.best_model_score is not None:
        return ckpt.best_model_score, ckpt.best_model_path or None
    return trainer.lightning_module.best_metrics().get(f"best/{monitor.removeprefix('val/')}"), None
