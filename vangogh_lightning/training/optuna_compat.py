"""The two things Optuna 2.10 offers only through private attributes, in one place.

hydra-optuna-sweeper 1.3 (the newest release) pins ``optuna<3``. Optuna 2.10 has no public way to
reach a live trial from its number (Optuna 3: ``study.ask(fixed_distributions)`` / the trial's
``_trial_id`` stays private there too) nor to note why a trial failed without its ``Trial`` object.
Both are done here through the study's storage, which is the public storage API
(``BaseStorage.get_trial_id_from_study_id_trial_number`` and ``set_trial_system_attr``) reached
through the study's private ``_storage`` and ``_study_id``.
"""

from __future__ import annotations

from typing import Any


def trial_by_number(study: Any, number: int) -> Any:
    """The live ``optuna.trial.Trial`` of ``study`` numbered ``number`` (to report to and ask the pruner)."""
    import optuna

    trial_id = study._storage.get_trial_id_from_study_id_trial_number(study._study_id, int(number))
    return optuna.trial.Trial(study, trial_id)


def note_fail_reason(study: Any, trial: Any, reason: str) -> None:
    """Record why ``trial`` (a FrozenTrial) is closed as FAIL, as its ``fail_reason`` system attribute."""
    study._storage.set_trial_system_attr(trial._trial_id, "fail_reason", reason)
