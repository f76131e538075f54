"""Implementation of the pruning sweeper (imported only when a sweep starts: optuna is heavy).

The Optuna sweeper of hydra-optuna-sweeper 1.3, able to prune. The stock sweeper hides the trial
from the job (hydra issue #1954) and tells Optuna only COMPLETE or FAIL, inside a ``sweep`` loop that
offers no hook for a third state. So this class keeps the stock search-space handling and trial
configuration (its ``_process_searchspace_config``, ``_parse_sweeper_params_config`` and
``_configure_trials`` methods, protected but stable across 1.x) and runs its own ask/launch/tell loop
with Optuna's public API:

- each job gets its trial number (``search.trial=<n>``), so it can report per-epoch values and ask
  the pruner (``vangogh_lightning.training.pruning``);
- a job that raised ``optuna.TrialPruned`` is told PRUNED (with its last reported value), and pruned
  trials do not count towards ``max_failure_rate``; a job that failed otherwise is told FAIL.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Sequence
from typing import Any

import optuna
from hydra.core.utils import JobReturn, JobStatus
from hydra_plugins.hydra_optuna_sweeper._impl import OptunaSweeperImpl, create_params_from_overrides
from omegaconf import OmegaConf
from optuna.trial import TrialState

log = logging.getLogger(__name__)

TRIAL_KEY = "search.trial"


def _pruned(ret: JobReturn) -> optuna.TrialPruned | None:
    """The ``TrialPruned`` a failed job raised, if that is why it failed.

    (``JobReturn.return_value`` would re-raise it and print "Error executing job" for a trial that
    did nothing wrong; the exception is the dataclass field behind it.)"""
    if ret.status == JobStatus.FAILED and isinstance(ret._return_value, optuna.TrialPruned):
        return ret._return_value
    return None


class PruningSweeperImpl(OptunaSweeperImpl):
    """Stock search space and trial set-up; trial numbers passed to the jobs; PRUNED trials told as such."""

    def _configure_trials(self, trials, search_space_distributions, fixed_params) -> Sequence[Sequence[str]]:
        overrides = super()._configure_trials(trials, search_space_distributions, fixed_params)
        return [(*o, f"{TRIAL_KEY}={t.number}") for o, t in zip(overrides, trials)]

    def _tell(self, study: optuna.Study, trial: optuna.trial.Trial, ret: JobReturn) -> Exception | None:
        """Tell ``study`` how ``trial``'s job ended; return the exception of a failed job."""
        pruned = _pruned(ret)
        if pruned is not None:
            log.info("trial %d pruned: %s", trial.number, pruned)
            self._tell_state(study, trial, TrialState.PRUNED)
            return None
        try:
            value = ret.return_value
            values = [float(v) for v in (value if isinstance(value, Sequence) else [value])]
            self._tell_state(study, trial, TrialState.COMPLETE, values)
            return None
        except Exception as exc:  # noqa: BLE001 - any failure of the job or its value is a FAIL trial
            # why, for trials.csv's note (a diverged fit's one line; the first line of anything else)
            trial.set_system_attr("fail_reason", (str(exc).strip().splitlines() or [type(exc).__name__])[0])
            self._tell_state(study, trial, TrialState.FAIL)
            log.warning("Failed experiment: %s", exc)
            return exc

    def _tell_state(self, study: optuna.Study, trial: optuna.trial.Trial, state: TrialState,
                    values: list[float] | None = None) -> None:
        try:
            study.tell(trial, values=values, state=state)
        except RuntimeError as exc:
            # A GridSampler that has covered its grid stops the study from inside tell (the stock sweeper
            # ignores this too); the trial is recorded all the same.
            if not (self._grid and "Study.stop" in str(exc)):
                raise

    _grid = False

    def _use_grid(self, distributions: dict[str, Any]) -> None:
        """A GridSampler is configured as a partial; give it the grid of the search space (as the stock sweeper)."""
        grid = {name: self._to_grid_sampler_choices(d) for name, d in distributions.items()}
        self.sampler = self.sampler(grid)
        self.n_trials = min(self.n_trials, math.prod(len(v) for v in grid.values()))
        self._grid = True
        log.info("Updating num of trials to %d due to using GridSampler.", self.n_trials)

    def sweep(self, arguments: list[str]) -> None:
        self._process_searchspace_config()
        params_conf = [*self._parse_sweeper_params_config(), *arguments]
        distributions, fixed_params = create_params_from_overrides(params_conf)
        distributions = {**(self.search_space_distributions or {}), **distributions}
        for name in fixed_params:
            distributions.pop(name, None)
        if isinstance(self.sampler, functools.partial) and self.sampler.func is optuna.samplers.GridSampler:
            self._use_grid(distributions)
        directions = self._get_directions()
        study = optuna.create_study(study_name=self.study_name, storage=self.storage, sampler=self.sampler,
                                    directions=directions, load_if_exists=True)
        log.info("Study name: %s", study.study_name)
        log.info("Storage: %s", self.storage)
        log.info("Sampler: %s", type(self.sampler).__name__)
        log.info("Directions: %s", directions)
        to_go = self.n_trials
        while to_go > 0:
            batch = min(to_go, self.n_jobs)
            trials = [study.ask() for _ in range(batch)]
            overrides = self._configure_trials(trials, distributions, fixed_params)
            returns = self.launcher.launch(overrides, initial_job_idx=self.job_idx)
            self.job_idx += len(returns)
            failures = [e for e in (self._tell(study, t, r) for t, r in zip(trials, returns)) if e is not None]
            if len(failures) / len(returns) > self.max_failure_rate:
                log.error("Failed %s times out of %d with max_failure_rate=%s.", failures, len(returns),
                          self.max_failure_rate)
                for ret in returns:
                    if _pruned(ret) is None:
                        ret.return_value  # noqa: B018 - raises the failed job's own exception, with its traceback
            to_go -= batch
        self._save_results(study, directions)

    def _save_results(self, study: optuna.Study, directions: list[str]) -> None:
        """``optimization_results.yaml`` in the sweep folder, as the stock sweeper writes it."""
        if len(directions) < 2:
            best = study.best_trial
            results: dict[str, Any] = {"name": "optuna", "best_params": best.params, "best_value": best.value}
            log.info("Best parameters: %s", best.params)
            log.info("Best value: %s", best.value)
        else:
            results = {"name": "optuna",
                       "solutions": [{"params": t.params, "values": t.values} for t in study.best_trials]}
        OmegaConf.save(OmegaConf.create(results), f"{self.config.hydra.sweep.dir}/optimization_results.yaml")
