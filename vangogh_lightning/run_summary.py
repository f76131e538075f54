"""What each fold run reports beyond its curves: the full config, and the best of each metric.

Fold selection compares folds by their *best* epoch, while a logger's summary shows the last one;
``BestMetrics`` tracks the best value of every validation metric and the epoch of the best monitored
one, writes them to each W&B run's summary (plus ``define_metric`` so the W&B UI agrees) and hands
them to the fold's summary.json.
"""

from __future__ import annotations

import math
from typing import Any

import lightning as L
from lightning.pytorch.loggers import Logger
from omegaconf import DictConfig, OmegaConf

# Validation metrics and which direction is better.
METRIC_MODES = {"val/auroc": "max", "val/f1": "max", "val/acc": "max", "val/bal_acc": "max", "val/loss": "min"}
# Config sections that describe where things go or how they are logged, not the experiment.
NOT_LOGGED = ("hydra", "logger", "callbacks", "paths")


def flat_config(cfg: DictConfig) -> dict[str, Any]:
    """The resolved run config as flat ``section.key`` entries (lists as text) for any logger."""
    tree = OmegaConf.to_container(cfg, resolve=True)
    flat: dict[str, Any] = {}

    def walk(prefix: str, node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(f"{prefix}.{key}" if prefix else str(key), value)
        elif isinstance(node, (list, tuple)):
            flat[prefix] = ", ".join(map(str, node))
        else:
            flat[prefix] = node

    for key, value in tree.items():
        if key not in NOT_LOGGED:
            walk(str(key), value)
    return flat


def wandb_runs(loggers: list[Logger]) -> list[Any]:
    """The W&B run objects behind any WandbLogger in ``loggers``."""
    return [lg.experiment for lg in loggers if type(lg).__name__ == "WandbLogger"]


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
