"""Hyperparameter search: `python train.py -m hparams_search=optuna` on tiny synthetic data."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import optuna
import pandas as pd
import pytest
import yaml
from omegaconf import OmegaConf

from tests.conftest import ROOT, SMALL_CHECKPOINTS, compose_cfg, run_script
from vangogh_lightning.study.pipeline import best_parameters

# Trials train only the head: the search's bookkeeping is under test, not what a trial learns.
TINY = ["experiment=synthetic_smoke", "model=alexnet", "data.synthetic_count=24", "data.num_folds=2",
        "trainer.max_epochs=1", "trainer.enable_progress_bar=false",
        "trainer.enable_model_summary=false", *SMALL_CHECKPOINTS]


def sweep(log_dir: Path, *overrides: str) -> None:
    """``python train.py -m ...``, run in this process (Hydra's basic launcher runs each trial in-process
    too, as it does under the command line)."""
    assert run_script("train.py", "-m", *overrides, f"paths.log_dir={log_dir}") == 0


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
    # no fixed seed by default: a re-run or a parallel sweep draws new points
    assert sweeper.sampler._target_ == "optuna.samplers.TPESampler" and sweeper.sampler.seed is None
    assert sweeper.n_trials == 7 and sweeper.direction == "maximize"
    assert sweeper.storage.startswith("sqlite:///") and sweeper.storage.endswith("optuna/vangogh.db")
    assert cfg.fold is None  # objective = mean over all folds


def _params(study) -> list[tuple]:
    return [tuple(sorted(t.params.items())) for t in study.trials]


@pytest.mark.e2e
def test_a_sweep_records_its_trials_and_a_rerun_into_its_folder_adds_new_points_to_the_same_study(tmp_path):
    seeded = ["hparams_search=optuna", "search.seed=5", *TINY]
    args = [*seeded, "hydra.sweeper.n_trials=2", f"hydra.sweep.dir={tmp_path / 'sweep'}"]
    sweep(tmp_path, *args)
    db = tmp_path / "optuna" / "vangogh.db"
    first = tmp_path / "sweep"
    assert not list(first.rglob("*.ckpt"))  # trials rank settings: they keep no model checkpoints
    table = pd.read_csv(first / "trials.csv")
    assert len(table) == 2 and (table["state"] == "COMPLETE").all()
    for col in ("value", "backbone", "param:model.lr", "param:model.weight_decay",
                "param:data.batch_size", "param:model.trainable_feature_modules", "fold0", "fold1"):
        assert col in table.columns
    assert table["value"].tolist() == pytest.approx(((table["fold0"] + table["fold1"]) / 2).tolist())
    best = yaml.safe_load((first / "best_params.yaml").read_text())
    assert best["alexnet"]["value"] == pytest.approx(table["value"].max())
    assert "| trial |" in (first / "trials.md").read_text()
    # the hand-off to training (study.py): the best trial's parameters as train.py overrides
    overrides = best_parameters(first, "alexnet")
    trained = compose_cfg("train", ["model=alexnet", *overrides])
    winner = table.loc[table["value"].idxmax()]
    assert trained.model.lr == pytest.approx(winner["param:model.lr"])
    assert trained.model.weight_decay == pytest.approx(winner["param:model.weight_decay"])
    assert trained.data.batch_size == winner["param:data.batch_size"]
    assert trained.model.trainable_feature_modules == winner["param:model.trainable_feature_modules"]
    assert best_parameters(first, "vgg19") == []  # no vgg19 trial: its training keeps the defaults

    # the same command again, into the same folder: the same study goes on, and its seed does not replay
    sweep(tmp_path, *args)
    (summary,) = optuna.get_all_study_summaries(storage=f"sqlite:///{db}")
    assert summary.study_name == "vangogh-synthetic-post_impressionism-vincent_van_gogh-val_auroc-max-2folds-foldnone"
    study = optuna.load_study(study_name=summary.study_name, storage=f"sqlite:///{db}")
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 4 and len(set(_params(study))) == 4
    assert len(list(first.glob("*/cv_summary.json"))) == 4  # no job folder collided
    assert len(pd.read_csv(first / "trials.csv")) == 4
    # the same seed on a fresh study replays exactly: reproducible
    sweep(tmp_path / "again", *seeded, "hydra.sweeper.n_trials=1", f"hydra.sweep.dir={tmp_path / 'again' / 'sweep'}")
    fresh = optuna.load_study(study_name=summary.study_name,
                              storage=f"sqlite:///{tmp_path / 'again' / 'optuna' / 'vangogh.db'}")
    assert _params(fresh) == _params(study)[:1]


@pytest.mark.e2e
def test_a_sweep_prints_and_writes_the_command_that_trains_its_best_setting_and_logs_plain_text(tmp_path):
    """best_command.txt beside best_params.yaml: `python train.py ...` on every fold with the best parameters
    and the sweep's other settings. Optuna's own lines come in Hydra's format, without terminal colour codes."""
    sweep_dir = tmp_path / "sweep"
    proc = subprocess.run([sys.executable, "train.py", "-m", "hparams_search=optuna", "search.seed=5", *TINY, "fold=0",
                           "hydra.sweeper.n_trials=1", f"paths.log_dir={tmp_path}", f"hydra.sweep.dir={sweep_dir}"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-3000:]
    assert "[HYDRA] A new study created in RDB" in output and "\x1b[" not in output
    (command,) = [line for line in (sweep_dir / "best_command.txt").read_text().splitlines() if line[:1] != "#"]
    assert f"train it on every fold: {command}" in proc.stdout
    python, script, *args = shlex.split(command)
    assert (python, script) == ("python", "train.py") and not [a for a in args if a.startswith(("fold", "hparams"))]
    trained = compose_cfg("train", args)
    assert trained.fold is None and trained.model.backbone == "alexnet" and trained.data.num_folds == 2
    assert trained.model.trainable_classifier_layers == 1 and trained.checkpoints.keep_best is True
    for key, value in yaml.safe_load((sweep_dir / "best_params.yaml").read_text())["alexnet"]["params"].items():
        assert OmegaConf.select(trained, key) == pytest.approx(value), key


GRID_SEARCH = """\
# @package _global_
defaults:
  - override /hydra/sweeper: optuna
  - override /hydra/sweeper/sampler: random
fold: null
search:
  seed: null
  pruner: null
  trial: null
hydra:
  mode: MULTIRUN
  sweeper:
    _target_: hydra_plugins.vangogh_optuna_sweeper.pruning_sweeper.PruningOptunaSweeper
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
      _target_: vangogh_lightning.training.sweep.SweepReport
      storage: ${hydra.sweeper.storage}
      study_name: ${hydra.sweeper.study_name}
"""


@pytest.mark.e2e
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
    failed = table[table["state"] == "FAIL"]  # each says why, in the job's one line
    assert failed["note"].str.startswith("model.trainable_feature_modules=99: must be 0..13").all()


def test_study_names_differ_by_what_is_searched():
    names = {compose_cfg("train", ["hparams_search=optuna", *o], with_hydra=True).hydra.sweeper.study_name
             for o in ([], ["data=synthetic"], ["data.positive_artist=paul gauguin"], ["fold=0"],
                       ["monitor.metric=val/loss", "monitor.mode=min"])}
    assert len(names) == 5


def test_a_killed_sweep_leaves_no_trial_running_for_ever(tmp_path):
    """Settling RUNNING trials: finished job -> its value; dead job -> FAIL with the reason."""
    import json
    import socket

    from optuna.trial import TrialState

    from vangogh_lightning.training.sweep import close_orphaned_trials, sweep_jobs, trials_table

    study = optuna.create_study(study_name="s", storage=f"sqlite:///{tmp_path / 's.db'}", direction="maximize")
    root = tmp_path / "multiruns"
    for n, (lr, finished, pid) in enumerate([(0.1, True, 999_999_999), (0.2, False, 999_999_999),
                                             (0.3, False, None)]):
        trial = study.ask()
        trial.suggest_float("model.lr", 0.0, 1.0)
        study._storage.set_trial_param(trial._trial_id, "model.lr", lr, optuna.distributions.UniformDistribution(0, 1))
        job = root / "sweep" / f"{n}-abc"
        (job / ".hydra").mkdir(parents=True)
        (job / ".hydra" / "overrides.yaml").write_text(f"- model.lr={lr}\n")
        if finished:
            (job / "cv_summary.json").write_text(json.dumps({"mean": 0.75, "per_fold": {"0": 0.7, "1": 0.8}}))
        if pid is not None:
            (job / "job.json").write_text(json.dumps({"pid": pid, "host": socket.gethostname()}))
    notes = close_orphaned_trials(study, sweep_jobs(root))
    states = [t.state for t in study.trials]
    assert states == [TrialState.COMPLETE, TrialState.FAIL, TrialState.RUNNING]  # the 3rd may still start
    assert study.trials[0].value == 0.75 and "had finished" in notes[0]
    assert "ended without a result" in study.trials[1].system_attrs["fail_reason"]
    # closed once: a second pass changes nothing and re-counts nothing
    assert close_orphaned_trials(study, sweep_jobs(root)) == [] and len(study.trials) == 3
    table = trials_table(study, sweep_jobs(root))
    assert table.loc[0, "fold0"] == 0.7 and pd.isna(table.loc[1, "fold0"])  # FAIL rows show no fold scores
    # long after it started, a trial that never got a job folder is closed too
    later = study.trials[2].datetime_start.timestamp() + 2 * 3600
    assert "no job ever started" in close_orphaned_trials(study, sweep_jobs(root), now=later)[0]


def test_a_trial_reports_each_validation_epoch_and_is_pruned_when_behind():
    """The job side of pruning: values reported per (fold, epoch) step; TrialPruned when behind."""
    from types import SimpleNamespace

    import torch

    from vangogh_lightning.training.pruning import TrialPruning

    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.MedianPruner(n_startup_trials=1,
                                                                                          n_warmup_steps=0))
    for value in (0.9, 0.8):  # finished trials that reached 0.9 / 0.8 at step 3
        good = study.ask()
        good.report(value, 3)
        study.tell(good, value)
    trial = study.ask()
    callback = TrialPruning(trial, "val/auroc", step_offset=3)  # second fold of 3-epoch folds
    trainer = SimpleNamespace(sanity_checking=False, current_epoch=0, callback_metrics={"val/auroc": torch.tensor(0.5)})
    with pytest.raises(optuna.TrialPruned, match="step 3"):
        callback.on_validation_end(trainer, None)
    assert study.trials[-1].intermediate_values == {3: 0.5}


def test_a_trial_reports_the_value_logged_in_that_same_epoch():
    """In a real fit the value reported at step k is what the module logged in epoch k (not epoch k-1)."""
    import lightning as L
    import torch

    from vangogh_lightning.training.pruning import TrialPruning

    logged = [0.3, 0.6, 0.9]

    class Module(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))

        def training_step(self, batch, batch_idx):
            return (self.w - batch[0]).pow(2).mean()

        def validation_step(self, batch, batch_idx):
            pass

        def on_validation_epoch_end(self):
            if not self.trainer.sanity_checking:
                self.log("val/auroc", logged[self.current_epoch])

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.ones(4, 1)), batch_size=2)
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.NopPruner())
    trial = study.ask()
    trainer = L.Trainer(max_epochs=3, callbacks=[TrialPruning(trial, "val/auroc", step_offset=0)], logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(Module(), data, data)
    assert trial.storage.get_trial(trial._trial_id).intermediate_values == pytest.approx({0: 0.3, 1: 0.6, 2: 0.9})


@pytest.mark.e2e
def test_a_search_prunes_trials_that_cannot_win_and_records_them_as_pruned(tmp_path):
    sweep(tmp_path, "hparams_search=optuna", *TINY, "trainer.max_epochs=2", "callbacks.early_stopping=null",
          "hydra.sweeper.n_trials=4", "hydra.sweeper.n_jobs=1", "search.seed=3", "search.pruner.n_startup_trials=1",
          "search.pruner.n_warmup_steps=0", "model.lr=tag(log, interval(1e-7, 1e-3))")
    table = pd.read_csv(sweep_dirs(tmp_path)[0] / "trials.csv")
    assert "PRUNED" in set(table["state"]) and "FAIL" not in set(table["state"])
    assert table.loc[table["state"] == "COMPLETE", "value"].notna().all()
    jobs = [p.parent for p in sweep_dirs(tmp_path)[0].glob("*/.hydra")]
    pruned_jobs = [j for j in jobs if not (j / "cv_summary.json").exists()]
    assert pruned_jobs and not [c for j in pruned_jobs for c in j.rglob("*.ckpt")]  # pruned trials keep nothing
    # every logger's config names the trial its run belongs to
    trial_of = {int(yaml.safe_load(h.read_text())["search.trial"])
                for h in sweep_dirs(tmp_path)[0].glob("*/fold_*/csv/version_0/hparams.yaml")}
    assert trial_of == set(range(4))
