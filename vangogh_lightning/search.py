"""Hydra callback for Optuna sweeps: prepares SQLite storage and writes the trial tables."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from vangogh_lightning.evaluation.tables import to_markdown
from vangogh_lightning.images import atomic_write_text

log = logging.getLogger(__name__)


def sqlite_file(storage: str | None) -> Path | None:
    """The database file of an ``sqlite:///`` URL (None for other storages)."""
    if not storage or not storage.startswith("sqlite:///"):
        return None
    return Path(storage.removeprefix("sqlite:///"))


def _job_results(sweep_dir: Path) -> dict[frozenset, dict[str, Any]]:
    """Per-fold scores of this sweep's jobs, keyed by the job's override strings."""
    results = {}
    for summary in sweep_dir.glob("*/cv_summary.json"):
        overrides = summary.parent / ".hydra" / "overrides.yaml"
        if overrides.is_file():
            key = frozenset(yaml.safe_load(overrides.read_text()) or [])
            results[key] = json.loads(summary.read_text())
    return results


def trials_table(study, sweep_dir: Path | None = None) -> pd.DataFrame:
    """One row per trial: number, state, value, parameters, duration, per-fold scores if known."""
    jobs = _job_results(sweep_dir) if sweep_dir is not None else {}
    rows = []
    for trial in study.trials:
        # A backbone fixed on the command line (model=vgg19) is a user attr, not a param.
        backbone = trial.params.get("model", trial.user_attrs.get("model", "default"))
        row: dict[str, Any] = {"trial": trial.number, "state": trial.state.name, "value": trial.value,
                               "backbone": backbone}
        row.update({f"param:{k}": v for k, v in trial.params.items() if k != "model"})
        key = {f"{k}={v}" for k, v in trial.params.items()}
        for overrides, result in jobs.items():
            if key <= overrides:
                row.update({f"fold{k}": v for k, v in result["per_fold"].items()})
                break
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


class StudyReport(Callback):
    """Before the sweep: create the SQLite folder. After it: best params per backbone + trials table."""

    def __init__(self, storage: str | None, study_name: str, direction: str = "maximize"):
        self.storage, self.study_name, self.direction = storage, study_name, direction

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        db = sqlite_file(self.storage)
        if db is not None:
            db.parent.mkdir(parents=True, exist_ok=True)
            log.info("Optuna study '%s' in %s (re-run the command to add trials)", self.study_name, db)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        import optuna

        sweep_dir = Path(config.hydra.sweep.dir)
        study = optuna.load_study(study_name=self.study_name, storage=self.storage)
        table = trials_table(study, sweep_dir)
        best = best_per_backbone(table, self.direction)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        table.to_csv(sweep_dir / "trials.csv", index=False)
        atomic_write_text(f"# Study {self.study_name}: {len(table)} trials\n\n" + to_markdown(table, floatfmt=".4g"),
                          sweep_dir / "trials.md")
        atomic_write_text(yaml.safe_dump(best, sort_keys=False), sweep_dir / "best_params.yaml")
        for backbone, entry in best.items():
            print(f"best {backbone}: trial {entry['trial']} value {entry['value']:.4f} {entry['params']}")
        print(f"trials table: {sweep_dir / 'trials.md'}; best parameters: {sweep_dir / 'best_params.yaml'}")
