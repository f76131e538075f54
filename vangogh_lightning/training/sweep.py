"""Hydra callback of an Optuna sweep (``SweepReport``): storage checks, settling orphaned trials, the trial tables."""

from __future__ import annotations

import json
import logging
import math
import os
import shlex
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from vangogh_lightning.config.overrides import quote_value
from vangogh_lightning.core.atomic import atomic_write_text
from vangogh_lightning.core.markdown import to_markdown
from vangogh_lightning.core.secret_urls import storage_password_problem
from vangogh_lightning.training.run_folder import CV_SUMMARY, JOB_RECORD

log = logging.getLogger(__name__)


@dataclass
class SweepJob:
    """One job folder of a sweep: its overrides, its result (if it finished) and who ran it."""

    folder: Path
    overrides: frozenset
    result: dict[str, Any] | None
    record: dict[str, Any] | None


def sweep_jobs(multiruns_root: Path) -> list[SweepJob]:
    """Every job folder of every sweep under ``multiruns_root`` (``<root>/<sweep>/<job>/``)."""
    jobs = []
    for overrides in sorted(multiruns_root.glob("*/*/.hydra/overrides.yaml")):
        folder = overrides.parent.parent
        summary, record = folder / CV_SUMMARY, folder / JOB_RECORD
        jobs.append(SweepJob(folder, frozenset(yaml.safe_load(overrides.read_text()) or []),
                             json.loads(summary.read_text()) if summary.is_file() else None,
                             json.loads(record.read_text()) if record.is_file() else None))
    return jobs


def _ran(trial, job: SweepJob) -> bool:
    """Whether ``job`` ran ``trial``: same parameters and, where the sweeper recorded it, same number."""
    numbered = [o for o in job.overrides if o.startswith("search.trial=")]
    params = {f"{k}={v}" for k, v in trial.params.items()}
    return params <= job.overrides and (not numbered or numbered[0] == f"search.trial={trial.number}")


def _job_of(trial, jobs: list[SweepJob]) -> SweepJob | None:
    """The finished job that produced a completed trial's value (same parameters and same value)."""
    return next((job for job in jobs if job.result is not None and _ran(trial, job) and trial.value is not None
                 and math.isclose(float(job.result["mean"]), float(trial.value), rel_tol=1e-9, abs_tol=1e-12)), None)


def _process_alive(record: dict[str, Any]) -> bool | None:
    """True/False for a job process on this host; None when it ran elsewhere (cannot tell)."""
    if record.get("host") != socket.gethostname():
        return None
    try:
        os.kill(int(record["pid"]), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


ORPHAN_GRACE_SECONDS = 3600  # a trial whose job never started is closed only after this long (queues)


def close_orphaned_trials(study, jobs: list[SweepJob], now: float | None = None) -> list[str]:
    """Settle trials a killed sweep left RUNNING (completed with a finished job's value, or FAIL when the job
    process is gone or never started within an hour); return one line per trial settled."""
    from optuna.trial import TrialState

    now = time.time() if now is None else now
    claimed = {id(j) for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
               for j in [_job_of(t, jobs)] if j is not None}
    notes = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        mine = [j for j in jobs if _ran(trial, j) and id(j) not in claimed]
        finished = next((j for j in mine if j.result is not None), None)
        if finished is not None:
            claimed.add(id(finished))
            study.tell(trial.number, values=[float(finished.result["mean"])])
            notes.append(f"trial {trial.number}: its job {finished.folder} had finished; recorded its value "
                         f"{float(finished.result['mean']):.4f}")
            continue
        started = [j for j in mine if j.record is not None]
        if any(_process_alive(j.record) is not False for j in started):
            continue  # still running here, or elsewhere: not ours to close
        if started:
            reason = f"its job process (pid {started[0].record['pid']}) ended without a result in {started[0].folder}"
        elif trial.datetime_start is not None and now - trial.datetime_start.timestamp() > ORPHAN_GRACE_SECONDS:
            reason = "no job ever started for it (the sweep was stopped before its job began)"
        else:
            continue
        # (Optuna 2.10 notes a reason only through a live Trial: the storage's public API, via private _storage)
        study._storage.set_trial_system_attr(trial._trial_id, "fail_reason", reason)
        study.tell(trial.number, state=TrialState.FAIL)
        notes.append(f"trial {trial.number}: closed as FAIL: {reason}")
    return notes


def trials_table(study, jobs: list[SweepJob] | None = None) -> pd.DataFrame:
    """One row per trial: number, state, value, parameters, and per-fold scores of completed trials."""
    rows = []
    for trial in study.trials:
        # A backbone fixed on the command line (model=vgg19) is a user attr, not a param.
        row: dict[str, Any] = {"trial": trial.number, "state": trial.state.name, "value": trial.value,
                               "backbone": trial.params.get("model", trial.user_attrs.get("model", "default"))}
        row.update({f"param:{k}": v for k, v in trial.params.items() if k != "model"})
        job = _job_of(trial, jobs or []) if trial.state.name == "COMPLETE" else None
        if job is not None:  # only the job that produced this trial's value: FAIL rows get none
            row.update({f"fold{k}": v for k, v in job.result["per_fold"].items()})
        if trial.system_attrs.get("fail_reason"):
            row["note"] = trial.system_attrs["fail_reason"][:120]
        rows.append(row)
    return pd.DataFrame(rows)


def best_per_backbone(table: pd.DataFrame, direction: str) -> dict[str, dict[str, Any]]:
    """Best completed trial of each backbone with its parameters (plain Python values)."""
    done = table[table["state"] == "COMPLETE"]
    best = {}
    for backbone, rows in done.groupby("backbone"):
        row = rows.loc[rows["value"].idxmax() if direction == "maximize" else rows["value"].idxmin()]
        params = {k.removeprefix("param:"): getattr(v, "item", lambda v=v: v)() for k, v in row.items()
                  if k.startswith("param:") and pd.notna(v)}
        best[str(backbone)] = {"trial": int(row["trial"]), "value": float(row["value"]), "params": params}
    return best


def train_command(backbone: str, params: dict[str, Any], overrides: list[str]) -> str:
    """``python train.py ...`` training every fold with ``params`` (as study.py does): the search's other
    overrides kept (its data, epochs), those of the search itself dropped (``hparams_search``, ``search.*``,
    ``checkpoints.*``, ``fold``)."""
    model = [f"model={backbone}"] if backbone != "default" else []  # (default: the backbone was not searched)
    dropped = {"fold", *params, *(["model"] if model else [])}
    kept = [o for o in overrides if (key := o.split("=", 1)[0].lstrip("+~")) not in dropped
            and not key.startswith(("hparams_search", "search.", "hydra.", "checkpoints."))]
    best = [f"{k}={quote_value(v) if isinstance(v, str) else v}" for k, v in params.items()]
    return shlex.join(["python", "train.py", *model, *kept, *best])


class SweepReport(Callback):
    """Before the sweep: refuse a password in the storage URL, create the SQLite folder, settle the
    trials a killed sweep left RUNNING. After it: best params per backbone and the trials table."""

    def __init__(self, storage: str | None, study_name: str, direction: str = "maximize"):
        self.storage, self.study_name, self.direction = storage, study_name, direction

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        problem = storage_password_problem(self.storage)
        if problem is not None:
            # Before the sweeper starts: it would log the URL and save it in every trial's config.
            print(f"error: {problem}", file=sys.stderr)
            sys.exit(2)
        if self.storage and self.storage.startswith("sqlite:///"):
            db = Path(self.storage.removeprefix("sqlite:///"))
            db.parent.mkdir(parents=True, exist_ok=True)
            log.info("Optuna study '%s' in %s (re-run the command to add trials)", self.study_name, db)
        import optuna
        from sqlalchemy.exc import SQLAlchemyError

        # Optuna's lines through Hydra's handlers (plain text, in the log file too), not its colour-coded own
        optuna.logging.disable_default_handler()
        optuna.logging.enable_propagation()

        try:
            study = optuna.load_study(study_name=self.study_name, storage=self.storage)
        except KeyError:
            return  # a new study: nothing to settle
        except SQLAlchemyError as exc:  # the database cannot be reached or read: before any trial starts
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            print(f"error: hydra.sweeper.storage={self.storage}: cannot open the Optuna storage ({reason}); "
                  "check that the database server is running and reachable, or use the default SQLite storage",
                  file=sys.stderr)
            sys.exit(2)
        for note in close_orphaned_trials(study, sweep_jobs(Path(config.hydra.sweep.dir).parent)):
            print(f"note: {note}")

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        import optuna

        sweep_dir = Path(config.hydra.sweep.dir)
        study = optuna.load_study(study_name=self.study_name, storage=self.storage)
        table = trials_table(study, sweep_jobs(sweep_dir.parent))
        best = best_per_backbone(table, self.direction)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        table.to_csv(sweep_dir / "trials.csv", index=False)
        atomic_write_text(f"# Study {self.study_name}: {len(table)} trials\n\n" + to_markdown(table, floatfmt=".4g"),
                          sweep_dir / "trials.md")
        atomic_write_text(yaml.safe_dump(best, sort_keys=False), sweep_dir / "best_params.yaml")
        commands = []
        for backbone, entry in best.items():
            command = train_command(backbone, entry["params"], list(config.hydra.overrides.task))
            print(f"best {backbone}: trial {entry['trial']} value {entry['value']:.4f} {entry['params']}\n"
                  f"  train it on every fold: {command}")
            commands.append(f"# best {backbone}: trial {entry['trial']}, value {entry['value']:.4f}\n{command}\n")
        atomic_write_text("".join(commands), sweep_dir / "best_command.txt")
        print(f"trials table: {sweep_dir / 'trials.md'}; best parameters: {sweep_dir / 'best_params.yaml'}; "
              f"training commands: {sweep_dir / 'best_command.txt'}")
