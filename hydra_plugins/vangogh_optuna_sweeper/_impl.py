"""Implementation of the pruning sweeper (imported only when a sweep starts: optuna is heavy).

The Optuna sweeper of hydra-optuna-sweeper 1.3, able to prune.

The stock sweeper hides the trial from the job (hydra issue #1954) and only tells COMPLETE or FAIL.
This subclass passes each trial's number to its job (``search.trial=<n>``), so the job can report
per-epoch values and ask the pruner (``vangogh_lightning.pruning``). A job that was pruned raises
``optuna.TrialPruned``; the sweeper records that trial as PRUNED (with its last reported value),
and pruned trials do not count towards ``max_failure_rate``. Everything else is the stock sweeper.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any
from unittest import mock

import optuna
from hydra.core.utils import JobReturn, JobStatus
from hydra_plugins.hydra_optuna_sweeper._impl import OptunaSweeperImpl
from optuna.trial import TrialState

log = logging.getLogger(__name__)

TRIAL_KEY = "search.trial"
_TRIAL_OVERRIDE = re.compile(rf"^{re.escape(TRIAL_KEY)}=(\d+)$")


def _trial_number(ret: JobReturn) -> int | None:
    for override in ret.overrides or []:
        match = _TRIAL_OVERRIDE.match(override)
        if match:
            return int(match.group(1))
    return None


class _PruneAwareStudy(optuna.Study):
    """A Study whose ``tell`` records the trials its jobs pruned as PRUNED, whatever it is told."""

    pruned: set[int]

    def tell(self, trial: Any, values: Any = None, state: TrialState = TrialState.COMPLETE) -> None:
        number = trial if isinstance(trial, int) else trial.number
        if number in self.pruned:
            return super().tell(trial, state=TrialState.PRUNED)
        return super().tell(trial, values=values, state=state)


class PruningSweeperImpl(OptunaSweeperImpl):
    """Stock implementation + the trial number in every job's overrides + PRUNED trials."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pruned: set[int] = set()

    def _configure_trials(self, trials, search_space_distributions, fixed_params) -> Sequence[Sequence[str]]:
        overrides = super()._configure_trials(trials, search_space_distributions, fixed_params)
        return [(*o, f"{TRIAL_KEY}={t.number}") for o, t in zip(overrides, trials)]

    def _launch(self, overrides: Any, initial_job_idx: int) -> Sequence[JobReturn]:
        returns = self._stock_launch(overrides, initial_job_idx=initial_job_idx)
        for ret in returns:
            number = _trial_number(ret)
            if ret.status == JobStatus.FAILED and isinstance(ret._return_value, optuna.TrialPruned) \
                    and number is not None:
                self.pruned.add(number)
                log.info("trial %d pruned: %s", number, ret._return_value)
                # Told as a plain result, so it is not a failure; the study turns it into PRUNED.
                ret.status, ret._return_value = JobStatus.COMPLETED, float("nan")
        return returns

    def sweep(self, arguments: list[str]) -> None:
        self._stock_launch = self.launcher.launch
        self.launcher.launch = self._launch  # type: ignore[method-assign]
        create_study = optuna.create_study

        def prune_aware(*args: Any, **kwargs: Any) -> optuna.Study:
            study = create_study(*args, **kwargs)
            study.__class__ = _PruneAwareStudy
            study.pruned = self.pruned
            return study

        with mock.patch.object(optuna, "create_study", prune_aware):
            return super().sweep(arguments)
