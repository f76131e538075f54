"""Hyperparameter search: `python train.py -m hparams_search=optuna` on tiny synthetic data."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import optuna
import pandas as pd
import pytest
import yaml

from tests.conftest import ROOT, compose_cfg

TINY = ["experiment=synthetic_smoke", "model=alexnet", "data.synthetic_count=24", "data.num_folds=2",
        "trainer.max_epochs=1", "trainer.enable_progress_bar=false",
        "trainer.enable_model_summary=false"]


def sweep(log_dir: Path, *overrides: str, extra_env: dict | None = None) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "train.py", "-m", *overrides, f"paths.log_dir={log_dir}"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def sweep_dirs(log_dir: Path) -> list[Path]:
    return sorted((log_dir / "train" / "multiruns").iterdir())


def test_search_space_is_the_reports_plus_freeze_depth(tmp_path):
    cfg = compose_cfg("train", ["hparams_search=optuna", "hydra.sweeper.n_trials=7"], with_hydra=True)
    sweeper = cfg.hydra.sweeper
    assert dict(sweeper.params) == {
        "model": "choice(alexnet, vgg19)",
        "model.lr": "tag(log, interval(1e-5, 1e-3))",
        "model.weight_decay": "tag(log, interval(1e-6, 1e-4))",
        "data.batch_size": "choice(4, 8, 12, 16)",
        "model.trainable_feature_modules": "choice(2, 4, 6, 8)",
    }
    assert sweeper.sampler._target_ == "optuna.samplers.TPESampler" and sweeper.sampler.seed == 1234
    assert sweeper.n_trials == 7 and sweeper.direction == "maximize"
    assert sweeper.storage.startswith("sqlite:///") and sweeper.storage.endswith("optuna/vangogh.db")
    assert cfg.fold is None  # objective = mean over all folds


@pytest.mark.slow
def test_sweep_records_trials_resumes_the_same_study_and_writes_tables(tmp_path):
    sweep(tmp_path, "hparams_search=optuna", "hydra.sweeper.n_trials=3", *TINY)
    db = tmp_path / "optuna" / "vangogh.db"
    assert db.is_file()
    first = sweep_dirs(tmp_path)[0]
    table = pd.read_csv(first / "trials.csv")
    assert len(table) == 3 and (table["state"] == "COMPLETE").all()
    for col in ("value", "backbone", "param:model.lr", "param:model.weight_decay",
                "param:data.batch_size", "param:model.trainable_feature_modules", "fold0", "fold1"):
        assert col in table.columns
    assert table["value"].tolist() == pytest.approx(((table["fold0"] + table["fold1"]) / 2).tolist())
    best = yaml.safe_load((first / "best_params.yaml").read_text())
    assert best["alexnet"]["value"] == pytest.approx(table["value"].max())
    assert "| trial |" in (first / "trials.md").read_text()

    sweep(tmp_path, "hparams_search=optuna", "hydra.sweeper.n_trials=1", *TINY)
    study = optuna.load_study(study_name="vangogh", storage=f"sqlite:///{db}")
    assert len(study.trials) == 4
    assert len(pd.read_csv(sweep_dirs(tmp_path)[1] / "trials.csv")) == 4


GRID_SEARCH = """\
# @package _global_
defaults:
  - override /hydra/sweeper: optuna
  - override /hydra/sweeper/sampler: random
fold: null
hydra:
  mode: MULTIRUN
  sweeper:
    direction: maximize
    study_name: failing
    storage: sqlite:///${paths.log_dir}/optuna/failing.db
    n_trials: 4
    n_jobs: 4
    max_failure_rate: 0.75
    sampler:
      seed: 7
    params:
      model.trainable_feature_modules: choice(6, 99)
  callbacks:
    study_report:
      _target_: vangogh_lightning.search.StudyReport
      storage: ${hydra.sweeper.storage}
      study_name: ${hydra.sweeper.study_name}
"""


@pytest.mark.slow
def test_a_failing_trial_is_recorded_and_the_sweep_goes_on(tmp_path):
    extra = tmp_path / "extra_conf" / "hparams_search"
    extra.mkdir(parents=True)
    (extra / "grid_failing.yaml").write_text(GRID_SEARCH)
    sweep(tmp_path, f"hydra.searchpath=[file://{tmp_path / 'extra_conf'}]",
          "hparams_search=grid_failing", *TINY)
    table = pd.read_csv(sweep_dirs(tmp_path)[0] / "trials.csv")
    assert len(table) == 4
    by_value = table.groupby("param:model.trainable_feature_modules")["state"].agg(set).to_dict()
    assert by_value == {6: {"COMPLETE"}, 99: {"FAIL"}}  # seed 7 draws 99, 99, 6, 6: failure rate 0.5 <= 0.75
