"""lightning-hydra-template's debug presets: each composes with every experiment and runs what it says."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from tests.conftest import CONF, SMALL_CHECKPOINTS, compose_cfg
from vangogh_lightning.config.schema import check_config
from vangogh_lightning.training.cross_validation import train

PRESETS = sorted(p.stem for p in (CONF / "debug").glob("*.yaml"))
EXPERIMENTS = [None, *sorted(p.stem for p in (CONF / "experiment").glob("*.yaml"))]
TINY = ["experiment=synthetic_smoke", "data.synthetic_count=64", "data.image_size=64", "data.batch_size=4",
        "data.num_folds=2", "trainer.enable_model_summary=false"]


def test_the_template_presets_are_all_there():
    assert PRESETS == ["default", "fdr", "limit", "overfit", "profiler"]


@pytest.mark.parametrize("experiment", EXPERIMENTS)
@pytest.mark.parametrize("preset", PRESETS)
def test_each_preset_composes_with_each_experiment(preset, experiment, tmp_path):
    (tmp_path / "classes.csv").write_text("")  # the WikiArt CSV the report's experiments name (checked: it exists)
    overrides = [f"debug={preset}", *([f"experiment={experiment}"] if experiment else []),
                 f"paths.wikiart_dir={tmp_path}"]
    cfg = compose_cfg("train", overrides, tmp_path)
    check_config(cfg, "train")
    assert cfg.trainer.accelerator == "cpu" and cfg.data.num_workers == 0  # debug/default under every preset


def test_fdr_runs_one_batch_each_way_and_records_nothing(tmp_path, capsys):
    assert math.isnan(train(compose_cfg("train", [*TINY, "debug=fdr"], tmp_path)))
    assert "fast_dev_run: fold 0's training and validation steps ran; nothing is recorded" in capsys.readouterr().out
    assert not list(tmp_path.rglob("summary.json")) and not list(tmp_path.rglob("*.ckpt"))
    assert not (tmp_path / "cv_summary.json").exists()


@pytest.mark.e2e
def test_limit_keeps_the_out_of_fold_pass_to_the_validation_limit_and_reports_progress(tmp_path, capsys):
    train(compose_cfg("train", [*TINY, *SMALL_CHECKPOINTS, "debug=limit", "fold=0", "callbacks.log_progress.every_s=0",
                                "checkpoints.resume_point=false"], tmp_path))
    out = capsys.readouterr().out
    oof = pd.read_csv(tmp_path / "fold_0" / "oof_predictions.csv")
    assert len(oof) == 2 * 4  # limit_val_batches=2 batches of 4, not the fold's 32 images
    assert "fold 0: out-of-fold pass, scoring 8 validation images (of 32: trainer.limit_val_batches=2) with " \
           "best.ckpt, about " in out
    lines = [x for x in out.splitlines() if x.startswith("[fold 0, 1 of 1] ")]
    done = [x.split(": ")[0] for x in lines if " done" in x]
    assert done == [f"[fold 0, 1 of 1] epoch {e} ({e + 1} of 3) done" for e in (0, 1, 2)]  # names 0-based, counts not
    assert all(" img/s | fold left <= " in x for x in lines) and any("step 4/4" in x for x in lines)


@pytest.mark.e2e
def test_overfit_learns_the_same_batches_until_the_loss_falls(tmp_path):
    # (no checkpoints: a 220 MB AlexNet file per epoch is most of this test's time otherwise; the head alone
    # learns two batches by heart)
    train(compose_cfg("train", [*TINY, *SMALL_CHECKPOINTS, "debug=overfit", "trainer.max_epochs=6", "model.lr=1e-3",
                                "checkpoints.resume_point=false", "callbacks.model_checkpoint=null"], tmp_path))
    (metrics,) = (tmp_path / "fold_0").glob("csv/version_*/metrics.csv")
    losses = pd.read_csv(metrics).dropna(subset=["train/loss"])["train/loss"].tolist()
    assert len(losses) >= 6 and losses[-1] < 0.5 * losses[0], losses


@pytest.mark.e2e
def test_profiler_writes_where_the_time_of_a_step_goes(tmp_path):
    train(compose_cfg("train", [*TINY, *SMALL_CHECKPOINTS, "debug=profiler", "fold=0"], tmp_path))
    report = (tmp_path / "fold_0" / "fit-profile.txt").read_text()
    assert "run_training_epoch" in report and "SingleDeviceStrategy.training_step" in report


def test_the_default_preset_trains_one_short_epoch_and_records_it_as_a_debug_run(tmp_path, capsys):
    from vangogh_lightning.core.errors import UserError
    from vangogh_lightning.evaluation.tasks import select_folds

    run = tmp_path / "run"
    train(compose_cfg("train", [*TINY, *SMALL_CHECKPOINTS, "debug=default", "fold=0"], run))
    done = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("val/auroc fold 0: "))
    assert "mean" not in done  # one fold: no mean to speak of
    summary = json.loads((run / "fold_0" / "summary.json").read_text())
    assert summary["epochs"] == 1 and len(pd.read_csv(run / "fold_0" / "oof_predictions.csv")) == 2 * 4
    assert summary["debug"] == ["trainer.limit_train_batches=2", "trainer.limit_val_batches=2"]
    assert json.loads((run / "cv_summary.json").read_text())["debug"] == summary["debug"]
    select = ["task=select_folds", f"task.runs={run}", "task.wandb=false", "task.latest=null"]
    with pytest.raises(UserError, match=r"^task.runs: .*fold_0 is a debug run \(trainer.limit_train_batches=2, "
                                        r"trainer.limit_val_batches=2: it saw part of its data\), so its scores are "
                                        r"not results; pass task.allow_debug=true"):
        select_folds(compose_cfg("evaluate", select, tmp_path / "refused"))
    chosen = select_folds(compose_cfg("evaluate", [*select, "task.allow_debug=true"], tmp_path / "asked"))
    assert chosen["alexnet"].is_file()
    assert "a debug run (trainer.limit_train_batches=2" in (tmp_path / "asked" / "fold_selection.md").read_text()


@pytest.mark.parametrize("argv", [["-m", "debug=fdr"], ["--multirun", "hparams_search=optuna", "debug=fdr"],
                                  ["-m", "+trainer.fast_dev_run=true"]])
def test_fdr_under_a_sweep_is_one_line(argv, capsys):
    from vangogh_lightning.config.entry import check_command_line

    with pytest.raises(SystemExit) as ended:
        check_command_line(argv)
    assert ended.value.code == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("error: ") and "fast_dev_run records no result" in line and "without -m" in line


def test_a_study_of_debug_runs_is_refused_unless_asked_for(tmp_path, shared_data):
    from vangogh_lightning.core.errors import UserError
    from vangogh_lightning.study.pipeline import Study

    study = ["scale=quick", f"out_dir={tmp_path}", "train_overrides=['experiment=synthetic_smoke','debug=limit']"]
    with pytest.raises(UserError, match=r"^train_overrides: debug=limit makes a debug run .* pass allow_debug=true"):
        Study(compose_cfg("study", study))
    steps = Study(compose_cfg("study", [*study, "allow_debug=true"])).steps()
    selection = next(s for s in steps if s.name == "select folds")
    assert "task.allow_debug=true" in selection.args()
