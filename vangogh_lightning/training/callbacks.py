"""The callbacks of one fold's fit: the configured ones, the best of each metric, the RNG state.

Fold selection compares folds by their *best* epoch, while a logger's summary shows the last one;
``BestMetrics`` tracks the best value of every validation metric and the epoch of the best monitored
one, writes them to each W&B run's summary (plus ``define_metric`` so the W&B UI agrees) and hands
them to the fold's summary.json. ``RngStateCallback`` puts the random number generators in every
checkpoint, so a resumed fit continues the same random stream.
"""

from __future__ import annotations

import math
import random
from typing import Any

import lightning as L
import numpy as np
import torch
from hydra.utils import instantiate
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import WandbLogger
from omegaconf import DictConfig

from vangogh_lightning.models.metric_names import METRIC_MODES
from vangogh_lightning.training.numeric_guard import FiniteGuard

# The callback entries (conf/callbacks/default.yaml) whose files a `checkpoints.*` setting drops.
BEST_CHECKPOINT, RESUME_CHECKPOINT = "model_checkpoint", "last_checkpoint"


class BestMetrics(L.Callback):
    """Best value of each validation metric and the best monitored epoch, per fold (survives resume)."""

    def __init__(self, monitor: str = "val/auroc", mode: str = "max"):
        self.monitor, self.mode = monitor, mode
        self.best: dict[str, float] = {}
        self.best_epoch: int | None = None

    @property
    def state_key(self) -> str:
        return f"BestMetrics[{self.monitor}]"

    def state_dict(self) -> dict[str, Any]:
        return {"best": dict(self.best), "best_epoch": self.best_epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best, self.best_epoch = dict(state["best"]), state["best_epoch"]

    def on_fit_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        for run in wandb_runs(trainer.loggers):
            for name, mode in {**METRIC_MODES, self.monitor: self.mode}.items():
                run.define_metric(name, summary=mode)

    # on_validation_end: the module logs its epoch metrics after callbacks' epoch-end hooks.
    def on_validation_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        modes = {**METRIC_MODES, self.monitor: self.mode}
        for name, mode in modes.items():
            if name not in trainer.callback_metrics:
                continue
            value = float(trainer.callback_metrics[name])
            if math.isnan(value):
                continue
            old = self.best.get(name)
            if old is None or (value > old if mode == "max" else value < old):
                self.best[name] = value
                if name == self.monitor:
                    self.best_epoch = trainer.current_epoch

    def summary(self) -> dict[str, Any]:
        """``best/<metric>`` for every metric seen, and ``best/epoch`` (0-based) of the monitored one."""
        out: dict[str, Any] = {f"best/{name.removeprefix('val/')}": v for name, v in self.best.items()}
        out["best/epoch"] = self.best_epoch
        return out

    def on_fit_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        for run in wandb_runs(trainer.loggers):
            run.summary.update(self.summary())


class RngStateCallback(L.Callback):
    """Saves Python, NumPy and torch (CPU and CUDA) RNG states in every checkpoint and restores them.

    With this, ``ckpt_path=last`` reproduces an uninterrupted run: shuffling, augmentation (with
    ``num_workers=0`` or non-persistent workers, whose seeds come from the restored state) and dropout.
    (Lightning has no public API for it: Fabric's ``_collect_rng_states`` is private.)
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


def wandb_runs(loggers: list[Any]) -> list[Any]:
    """The W&B run objects behind any WandbLogger in ``loggers``."""
    return [lg.experiment for lg in loggers if isinstance(lg, WandbLogger)]


def is_best_checkpoint(callback: L.Callback) -> bool:
    """The checkpoint that follows the monitored metric (best.ckpt), not the every-epoch resume point."""
    return isinstance(callback, ModelCheckpoint) and callback.monitor is not None


def writes_checkpoints(callbacks: list[L.Callback]) -> bool:
    return any(isinstance(c, ModelCheckpoint) for c in callbacks)


def fold_callbacks(fold_cfg: DictConfig, extra: list[L.Callback] | None = None) -> list[L.Callback]:
    """The configured callbacks, without the checkpoint writers whose files nothing keeps or reads.

    ``checkpoints.keep_best=false`` (search trials): best.ckpt would be deleted when the fold ends, so
    its entry is not instantiated. ``checkpoints.resume_point=false`` (search trials, which are never
    resumed): no last.ckpt (weights and optimizer state, every epoch). A ``BestMetrics`` is always
    there: it gives the fold its score. A ``FiniteGuard`` comes first: a diverged fit stops before
    any other callback (a pruner, a checkpoint writer) sees its non-finite values.
    """
    dropped = {BEST_CHECKPOINT} if fold_cfg.checkpoints.keep_best is False else set()
    if not fold_cfg.checkpoints.resume_point:
        dropped.add(RESUME_CHECKPOINT)
    callbacks = [instantiate(entry) for name, entry in (fold_cfg.callbacks or {}).items()
                 if entry is not None and name not in dropped]
    if not any(isinstance(c, BestMetrics) for c in callbacks):
        callbacks.append(BestMetrics(fold_cfg.monitor.metric, fold_cfg.monitor.mode))
    return [FiniteGuard(), *callbacks, RngStateCallback(), *(extra or [])]


def tracked_best(trainer: L.Trainer, monitor: str) -> tuple[Any, str | None]:
    """The fold's best monitored value and the best checkpoint written (None when none was)."""
    ckpt = next((c for c in trainer.callbacks if is_best_checkpoint(c)), None)
    if ckpt is not None and ckpt.best_model_score is not None:
        return ckpt.best_model_score, ckpt.best_model_path or None
    bests = next(c for c in trainer.callbacks if isinstance(c, BestMetrics))
    return bests.best.get(monitor), None
