"""W&B as the dashboard for fold selection: what offline fold runs record, read from their run files."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.conftest import TINY_TRAIN, compose_cfg
from tests.helpers.wandb_records import run_config, run_info, run_summary
from vangogh_lightning.evaluation.tasks import dashboard, select_folds
from vangogh_lightning.training.cross_validation import train


def wandb_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("wandb/offline-run-*/run-*.wandb"), key=lambda p: p.parent.name)


@pytest.fixture(scope="module")
def wandb_cv_run(tmp_path_factory) -> Path:
    """Two folds of two epochs, logged offline to W&B (and CSV)."""
    home = tmp_path_factory.mktemp("home")
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("WANDB_API_KEY", raising=False)
        mp.setenv("NETRC", str(home / "no-netrc"))
        mp.setenv("HOME", str(home))
        run = tmp_path_factory.mktemp("wandb_run") / "run"
        train(compose_cfg("train", [*TINY_TRAIN, "logger=wandb", "trainer.max_epochs=2", "data.synthetic_count=40",
                                    "data.num_folds=2", "data.batch_size=8", "seed=7"], run))
        yield run


def test_every_fold_run_logs_the_whole_resolved_config(wandb_cv_run):
    for fold in (0, 1):
        (run_file,) = wandb_files(wandb_cv_run / f"fold_{fold}")
        config = run_config(run_file)
        assert config["fold"] == fold and config["data.num_folds"] == 2 and config["data.batch_size"] == 8
        assert config["seed"] == 7 and config["data.split_seed"] == 42 and config["trainer.max_epochs"] == 2
        assert config["model.lr"] == pytest.approx(1e-4) and config["model.backbone"] == "alexnet"
        assert not any(k.startswith(("hydra.", "logger.")) for k in config)
        # the CSV logger (like TensorBoard) gets the same flat config
        hparams = yaml.safe_load((wandb_cv_run / f"fold_{fold}" / "csv" / "version_0" / "hparams.yaml").read_text())
        assert hparams["data.batch_size"] == 8 and hparams["fold"] == fold


def test_each_summary_holds_the_best_epoch_not_the_last(wandb_cv_run):
    for fold in (0, 1):
        fold_dir = wandb_cv_run / f"fold_{fold}"
        (run_file,) = wandb_files(fold_dir)
        summary = run_summary(run_file)
        epochs = pd.read_csv(fold_dir / "csv" / "version_0" / "metrics.csv").dropna(subset=["val/auroc"])
        assert summary["best/auroc"] == pytest.approx(epochs["val/auroc"].max())
        assert summary["best/f1"] == pytest.approx(epochs["val/f1"].max())
        assert summary["best/loss"] == pytest.approx(epochs["val/loss"].min())
        assert summary["best/epoch"] == int(epochs.loc[epochs["val/auroc"].idxmax(), "epoch"])
        assert summary["val/auroc"] == {"max": pytest.approx(epochs["val/auroc"].max())}  # define_metric
        fold_summary = json.loads((fold_dir / "summary.json").read_text())
        assert fold_summary["best/auroc"] == pytest.approx(summary["best/auroc"])
        assert fold_summary["best/epoch"] == summary["best/epoch"]


def test_the_group_gets_the_cross_validation_mean_and_std(wandb_cv_run):
    folds = [run_summary(wandb_files(wandb_cv_run / f"fold_{k}")[0]) for k in (0, 1)]
    (cv_file,) = wandb_files(wandb_cv_run)
    info, summary = run_info(cv_file), run_summary(cv_file)
    assert info["job_type"] == "cv" and "cv" in info["tags"]
    assert info["group"] == run_info(wandb_files(wandb_cv_run / "fold_0")[0])["group"]
    for metric in ("auroc", "f1", "loss"):
        values = [f[f"best/{metric}"] for f in folds]
        assert summary[f"cv/{metric}_mean"] == pytest.approx(statistics.fmean(values))
        assert summary[f"cv/{metric}_std"] == pytest.approx(statistics.pstdev(values))
    cv_json = json.loads((wandb_cv_run / "cv_summary.json").read_text())
    assert cv_json["cv/auroc_mean"] == pytest.approx(summary["cv/auroc_mean"])


def test_fold_selection_tags_the_selected_fold_run(wandb_cv_run, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    cfg = compose_cfg("evaluate", ["task=select_folds", f"task.runs={wandb_cv_run}",
                                   f"task.selected_dir={tmp_path / 'selected'}"], tmp_path / "eval")
    select_folds(cfg)
    fold = json.loads((tmp_path / "selected" / "alexnet.json").read_text())["fold"]
    fold_dir = wandb_cv_run / f"fold_{fold}"
    first, mark = wandb_files(fold_dir)  # the training run, then the mark (same run id: wandb sync merges)
    assert run_info(mark)["id"] == run_info(first)["id"] == (fold_dir / "wandb_run_id").read_text().strip()
    assert run_summary(mark)["selected"] is True and "selected" in run_info(mark)["tags"]
    other = wandb_cv_run / f"fold_{1 - fold}"
    assert len(wandb_files(other)) == 1  # the other fold is left alone


def test_the_dashboard_offline_writes_the_workspace_it_would_create(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    cfg = compose_cfg("evaluate", ["task=dashboard", "task.project=my-project"], tmp_path / "eval")
    spec = json.loads(Path(dashboard(cfg)).read_text())
    assert spec["project"] == "my-project"
    text = json.dumps(spec)
    for needed in ("val/auroc", "best/auroc", "best/epoch", "selected", "model.backbone", "cv/auroc_mean"):
        assert needed in text, needed
