"""W&B as the dashboard for fold selection: what offline fold runs record, read from their run files."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.conftest import compose_cfg, copy_linking_checkpoints
from tests.helpers.wandb_records import run_config, run_info, run_summary
from vangogh_lightning.evaluation.judges import delong_interval
from vangogh_lightning.evaluation.tasks import dashboard, select_folds


def wandb_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("wandb/offline-run-*/run-*.wandb"), key=lambda p: p.parent.name)


@pytest.fixture
def wandb_cv_run(trained_run) -> Path:
    """The suite's trained run: two folds logged offline to W&B (and CSV, TensorBoard)."""
    return trained_run


def test_every_fold_run_logs_the_whole_resolved_config(wandb_cv_run):
    for fold in (0, 1):
        (run_file,) = wandb_files(wandb_cv_run / f"fold_{fold}")
        config = run_config(run_file)
        assert config["fold"] == fold and config["data.num_folds"] == 2 and config["data.batch_size"] == 8
        assert config["seed"] == 7 and config["data.split_seed"] == 42 and config["trainer.max_epochs"] == 3
        assert config["model.lr"] == pytest.approx(1e-4) and config["model.backbone"] == "alexnet"
        assert not any(k.startswith(("hydra.", "logger.")) for k in config)
        # the CSV logger (like TensorBoard) gets the same flat config
        hparams = yaml.safe_load((wandb_cv_run / f"fold_{fold}" / "csv" / "version_0" / "hparams.yaml").read_text())
        assert hparams["data.batch_size"] == 8 and hparams["fold"] == fold


def test_top_level_tags_reach_every_logger_and_the_summaries(wandb_cv_run):
    for fold in (0, 1):
        fold_dir = wandb_cv_run / f"fold_{fold}"
        assert run_info(wandb_files(fold_dir)[0])["tags"] == ["baseline", "frozen", f"fold{fold}", "alexnet"]
        for logger in ("csv", "tensorboard"):
            (hparams,) = fold_dir.glob(f"{logger}/version_*/hparams.yaml")
            assert yaml.safe_load(hparams.read_text())["tags"] == "baseline, frozen", logger
        assert json.loads((fold_dir / "summary.json").read_text())["tags"] == ["baseline", "frozen"]
    assert run_info(wandb_files(wandb_cv_run)[0])["tags"] == ["baseline", "frozen", "cv"]
    assert json.loads((wandb_cv_run / "cv_summary.json").read_text())["tags"] == ["baseline", "frozen"]


def test_the_dashboards_keys_are_keys_the_runs_log(wandb_cv_run, tmp_path, monkeypatch):
    from vangogh_lightning.evaluation.folds.wandb_views import JOB_TYPES

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    spec = json.loads(Path(dashboard(compose_cfg("evaluate", ["task=dashboard"], tmp_path / "eval"))).read_text())
    config_keys, summary_keys, plotted, panels_grouped = set(), set(), set(), []

    def walk(node):
        if isinstance(node, dict):
            key = node.get("key") if isinstance(node.get("key"), dict) else node
            if {"section", "name"} <= key.keys():
                (config_keys if key["section"] == "config" else summary_keys if key["section"] == "summary"
                 else set()).add(key["name"])
            if "metrics" in node and "chart_title" in node:
                plotted.update(node["metrics"])
            if "chart_title" in node:
                panels_grouped.append((node["chart_title"], node.get("group_by")))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
        elif isinstance(node, str) and node.startswith(("config:", "summary:")):
            section, name = node.split(":", 1)
            (config_keys if section == "config" else summary_keys).add(name)

    walk(spec)
    fold_file, cv_file = wandb_files(wandb_cv_run / "fold_0")[0], wandb_files(wandb_cv_run)[0]
    logged_config = run_config(fold_file)
    for name in config_keys | {g for _, g in panels_grouped if g}:
        assert name.endswith(".value") and name.removesuffix(".value") in logged_config, name  # flat keys
    logged_summary = {*run_summary(fold_file), *run_summary(cv_file), "selected"}  # (selected: written by selection)
    assert summary_keys and summary_keys <= logged_summary, summary_keys - logged_summary
    history = set(pd.read_csv(next((wandb_cv_run / "fold_0").glob("csv/version_0/metrics.csv"))).columns)
    assert plotted and plotted <= history | logged_summary, plotted - history - logged_summary
    # per-fold panels are not grouped; only the backbone comparison is
    assert [t for t, g in panels_grouped if g] == [t for t, _ in panels_grouped if "per backbone" in t]
    assert {run_info(fold_file)["job_type"], run_info(cv_file)["job_type"]} == set(JOB_TYPES["train"])


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
        # the out-of-fold AUROC of the best weights with its DeLong interval, in W&B and the fold's summary
        oof = pd.read_csv(fold_dir / "oof_predictions.csv")
        auc, low, high = delong_interval(oof["p_van_gogh"], oof["label"])
        assert (fold_summary["oof/auroc"], fold_summary["oof/auroc_low"], fold_summary["oof/auroc_high"]) == \
            pytest.approx((auc, low, high))
        assert (summary["oof/auroc"], summary["oof/auroc_low"], summary["oof/auroc_high"]) == pytest.approx((auc, low,
                                                                                                            high))
        assert summary["oof/auroc"] == pytest.approx(summary["best/auroc"], abs=1e-4) and 0 <= summary["oof/ece"] <= 1
        cv_json = json.loads((fold_dir.parent / "cv_summary.json").read_text())
        assert cv_json["oof_auroc_interval"][str(fold_summary["fold"])] == pytest.approx([low, high])


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
    wandb_cv_run = copy_linking_checkpoints(wandb_cv_run, tmp_path / "run")  # the shared run stays untagged
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
    # search trials are a view of their own: runs and trials never share one table
    trials = compose_cfg("evaluate", ["task=dashboard", "task.runs=trial", "overwrite=true"], tmp_path / "eval")
    (job_filter,) = [f for f in json.loads(Path(dashboard(trials)).read_text())["spec"]["section"]["run_sets"][0]
                     ["filters"]["filters"] if f["key"]["name"] == "jobType"]
    assert job_filter["value"] == ["trial", "trial-cv"]


def test_evaluate_keeps_hydras_record_with_its_outputs_and_a_rerun_keeps_the_first(tmp_path, monkeypatch, capsys):
    """evaluate.py's .hydra/ and log go to out_dir (not ./outputs/<date>/), one record per command; --help still
    answers."""
    from tests.conftest import run_script

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    out, logs = tmp_path / "eval", tmp_path / "logs"
    args = ["task=dashboard", f"out_dir={out}", f"paths.log_dir={logs}"]
    assert run_script("evaluate.py", *args) == 0
    assert (out / "wandb_dashboard.json").is_file()
    (first,) = (out / ".hydra").iterdir()
    assert f"out_dir={out}" in (first / "overrides.yaml").read_text() and (out / "evaluate.log").is_file()
    assert not logs.exists()  # nothing under paths.log_dir: no run folder of its own
    assert run_script("evaluate.py", *args) == 0
    assert len(list((out / ".hydra").iterdir())) == 2 and (first / "config.yaml").is_file()
    capsys.readouterr()
    assert run_script("evaluate.py", "--help") == 0 and "evaluate.py: fold selection" in capsys.readouterr().out
