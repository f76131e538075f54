"""Pruning a search trial from inside its job (the sweeper passes its number as ``search.trial``):
report the monitored metric each validation epoch at step fold position x max_epochs + epoch, so the
folds of all trials line up, and stop what cannot win. ``search.pruner=null`` turns it off."""

from __future__ import annotations

import logging
import sys
from typing import Any

import lightning as L
from hydra.utils import instantiate
from omegaconf import DictConfig

log = logging.getLogger(__name__)


class TrialPruning(L.Callback):
    """Report ``monitor`` to an Optuna trial after each validation epoch; prune when told."""

    def __init__(self, trial: Any, monitor: str, step_offset: int):
        self.trial, self.monitor, self.step_offset = trial, monitor, step_offset

    # on_validation_end, not on_validation_epoch_end: Lightning calls callbacks' epoch-end hooks
    # before the module's, so the metrics logged there for this epoch are not visible yet.
    def on_validation_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if trainer.sanity_checking or self.monitor not in trainer.callback_metrics:
            return
        import optuna

        step = self.step_offset + trainer.current_epoch
        value = float(trainer.callback_metrics[self.monitor])
        self.trial.report(value, step)
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"pruned at step {step} ({self.monitor} {value:.4f})")


def trial_of_this_job(cfg: DictConfig) -> Any | None:
    """The Optuna trial this sweep job runs, with the configured pruner; None outside a pruning search."""
    search = cfg.get("search") or {}
    if search.get("trial") is None or search.get("pruner") is None:
        return None
    import optuna
    from hydra.core.hydra_config import HydraConfig

    sweeper = HydraConfig.get().sweeper
    pruner = instantiate(search.pruner)
    study = optuna.load_study(study_name=sweeper.study_name, storage=sweeper.storage, pruner=pruner)
    # Optuna 2.10 (hydra-optuna-sweeper 1.3 pins optuna<3) has no public way to reach a live trial from its
    # number: the storage's public API does it, reached through the study's private _storage and _study_id.
    trial_id = study._storage.get_trial_id_from_study_id_trial_number(study._study_id, int(search.trial))
    return optuna.trial.Trial(study, trial_id)


def is_pruned(exc: BaseException) -> bool:
    """True for ``optuna.TrialPruned`` (optuna is never imported for this: without it, none was raised)."""
    optuna = sys.modules.get("optuna")
    return optuna is not None and isinstance(exc, optuna.TrialPruned)


def pruning_callbacks(cfg: DictConfig, trial: Any | None, fold_position: int) -> list[L.Callback]:
    """The pruning callback for one fold (none outside a pruning search)."""
    if trial is None:
        return []
    max_epochs = max(1, int(cfg.trainer.get("max_epochs") or 1))
    return [TrialPruning(trial, cfg.monitor.metric, fold_position * max_epochs)]
