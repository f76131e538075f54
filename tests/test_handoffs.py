"""The study's steps hand over to each other right: disk a fold keeps, what fold selection reads,
what the deception table counts, and run folders that never collide."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from tests.conftest import ROOT, SMALL_CHECKPOINTS, TINY_TRAIN, compose_cfg, copy_linking_checkpoints, run_script
from vangogh_lightning.core.atomic import FILE_MODE
from vangogh_lightning.core.errors import UserError
from vangogh_lightning.evaluation.table_one.inputs import stylized_images
from vangogh_lightning.evaluation.tasks import select_folds
from vangogh_lightning.models.checkpoints import load_classifier
from vangogh_lightning.style.plan import plan_outputs
from vangogh_lightning.training.callbacks import AtomicCheckpointIO
from vangogh_lightning.training.cross_validation import train


def fp32_bytes(state: dict[str, torch.Tensor]) -> int:
    return sum(t.numel() * 4 for t in state.values())


@pytest.fixture
def two_fold_run(trained_run) -> Path:
    """The suite's trained run: both folds of AlexNet in one run, trained with a positive-class weight."""
    return trained_run


# --- disk a finished fold keeps -------------------------------------------------------------
def test_a_finished_fold_keeps_one_weights_only_checkpoint_of_its_best_epoch(two_fold_run):
    for fold in (0, 1):
        ckpt_dir = two_fold_run / f"fold_{fold}" / "checkpoints"
        assert sorted(p.name for p in ckpt_dir.iterdir()) == ["best.ckpt"]
        best = ckpt_dir / "best.ckpt"
        raw = torch.load(best, map_location="cpu", weights_only=True)
        assert "optimizer_states" not in raw and "lr_schedulers" not in raw
        assert best.stat().st_size <= 1.1 * fp32_bytes(raw["state_dict"])
        # every fold's checkpoint records its own fold
        assert raw["datamodule_hyper_parameters"]["fold"] == fold
        summary = json.loads((two_fold_run / f"fold_{fold}" / "summary.json").read_text())
        assert summary["best_checkpoint"] == "checkpoints/best.ckpt"


def test_files_get_the_users_normal_permissions(two_fold_run):
    for path in [two_fold_run / "fold_0" / "checkpoints" / "best.ckpt", two_fold_run / "fold_0" / "summary.json",
                 two_fold_run / "cv_summary.json"]:
        assert path.stat().st_mode & 0o777 == FILE_MODE, path


def test_a_checkpoint_trained_with_pos_weight_loads_for_evaluation(two_fold_run):
    model, size = load_classifier(two_fold_run / "fold_0" / "checkpoints" / "best.ckpt")
    assert size == 64 and model.predict_proba(torch.rand(2, 3, 64, 64)).shape == (2,)


def test_keep_last_keeps_the_resume_point_and_keep_best_false_keeps_nothing(tmp_path):
    overrides = [*TINY_TRAIN, *SMALL_CHECKPOINTS, "data.num_folds=2", "data.synthetic_count=24",
                 "trainer.max_epochs=1", "fold=0"]
    train(compose_cfg("train", [*overrides, "checkpoints.keep_last=true"], tmp_path / "a"))
    assert sorted(p.name for p in (tmp_path / "a/fold_0/checkpoints").iterdir()) == ["best.ckpt", "last.ckpt"]
    train(compose_cfg("train", [*overrides, "checkpoints.keep_best=false"], tmp_path / "b"))
    assert not list((tmp_path / "b/fold_0/checkpoints").iterdir())
    assert json.loads((tmp_path / "b/fold_0/summary.json").read_text())["best_checkpoint"] is None


def test_a_search_trial_writes_no_checkpoint_and_still_scores_its_best_epoch(tmp_path, monkeypatch):
    """What nothing keeps is never written: a trial's best.ckpt was deleted at the end, and a trial
    is never resumed. Its score is still the best epoch's, not the last one's."""
    written = []
    save = AtomicCheckpointIO.save_checkpoint

    def spy(self, checkpoint, path, *args, **kwargs):
        written.append(Path(path).name)
        return save(self, checkpoint, path, *args, **kwargs)

    monkeypatch.setattr(AtomicCheckpointIO, "save_checkpoint", spy)
    overrides = [*TINY_TRAIN, *SMALL_CHECKPOINTS, "data.num_folds=2", "data.synthetic_count=24", "fold=0",
                 "trainer.max_epochs=3", "callbacks.early_stopping=null", "model.lr=3e-4"]
    train(compose_cfg("train", [*overrides, "checkpoints.keep_best=false"], tmp_path / "no_best"))
    assert set(written) == {"last.ckpt"}  # the resume point only
    assert not (tmp_path / "no_best/fold_0/checkpoints/last.ckpt").exists()  # it went when the fold finished
    written.clear()
    cfg = compose_cfg("train", ["hparams_search=optuna", *overrides], tmp_path / "trial")
    assert cfg.checkpoints.keep_best is False and cfg.checkpoints.resume_point is False
    train(cfg)
    assert written == []
    summary = json.loads((tmp_path / "trial/fold_0/summary.json").read_text())
    (metrics_csv,) = (tmp_path / "trial/fold_0/csv").glob("version_*/metrics.csv")
    per_epoch = pd.read_csv(metrics_csv).dropna(subset=["val/auroc"])
    assert len(per_epoch) == 3
    assert summary["best_score"] == pytest.approx(per_epoch["val/auroc"].max())
    assert summary["best/epoch"] == int(per_epoch.loc[per_epoch["val/auroc"].idxmax(), "epoch"])
    # nor does Lightning add its own every-epoch checkpoint when the config has none
    none = [o for o in overrides if not o.startswith("callbacks.")]
    train(compose_cfg("train", [*none, "callbacks=none", "trainer.max_epochs=1"], tmp_path / "none"))
    assert written == [] and not (tmp_path / "none/fold_0/checkpoints").exists()


def test_a_temp_file_left_by_a_killed_save_is_removed_at_the_next_start(tmp_path):
    ckpt_dir = tmp_path / "fold_0" / "checkpoints"
    ckpt_dir.mkdir(parents=True)
    stale = ckpt_dir / ".last.ckpt.k2j4h5.tmp"
    stale.write_bytes(b"\0" * 1024)
    train(compose_cfg("train", [*TINY_TRAIN, *SMALL_CHECKPOINTS, "data.num_folds=2", "data.synthetic_count=24",
                                "trainer.max_epochs=1", "fold=0"], tmp_path))
    assert not stale.exists()


def test_a_run_that_never_validated_writes_no_summary(tmp_path):
    cfg = compose_cfg("train", [*TINY_TRAIN, "data.num_folds=2", "data.synthetic_count=24",
                                "trainer.max_epochs=0", "trainer.min_epochs=0", "fold=0"], tmp_path)
    with pytest.raises(UserError, match="fold 0 never validated"):
        train(cfg)
    assert not (tmp_path / "fold_0" / "summary.json").exists()


# --- run folders -----------------------------------------------------------------------------
def test_two_runs_started_in_the_same_second_get_different_folders():
    cmd = [sys.executable, "train.py", "--cfg", "all", "--resolve", "--package", "hydra.run"]
    procs = [subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True) for _ in range(2)]
    dirs = []
    for proc in procs:
        out, _ = proc.communicate(timeout=120)
        dirs.append(next(line for line in out.splitlines() if line.strip().startswith("dir: ")))
    assert dirs[0] != dirs[1]


@pytest.mark.e2e
def test_a_moved_run_resumes_from_its_own_last_checkpoint(tmp_path):
    args = ["experiment=synthetic_smoke", "fold=0", "data.num_folds=2", "data.synthetic_count=24",
            "data.image_size=64", "callbacks.early_stopping=null", "trainer.enable_progress_bar=false",
            "checkpoints.keep_last=true", *SMALL_CHECKPOINTS]
    first = subprocess.run([sys.executable, "train.py", *args, "trainer.max_epochs=2",  # killed after epoch 1
                            "+callbacks.kill._target_=tests.helpers.kill.KillAtEpochStart", "+callbacks.kill.epoch=1",
                            f"hydra.run.dir={tmp_path / 'old'}"], cwd=ROOT, capture_output=True, text=True)
    assert first.returncode == -9, first.stderr[-2000:]
    shutil.move(tmp_path / "old", tmp_path / "moved")
    assert run_script("train.py", *args, "trainer.max_epochs=2", "ckpt_path=last",
                      f"hydra.run.dir={tmp_path / 'moved'}") == 0
    ckpts = tmp_path / "moved" / "fold_0" / "checkpoints"
    assert sorted(p.name for p in ckpts.iterdir()) == ["best.ckpt", "last.ckpt"]  # no best-v1 / last-v1
    assert torch.load(ckpts / "last.ckpt", map_location="cpu", weights_only=True)["epoch"] == 1


# --- fold selection reads what training wrote --------------------------------------------------
def _fake_trial(sweep: Path, job: str, overrides: list[str], src: Path) -> Path:
    """A sweep job folder holding a copy of a trained run, with Hydra's record of its overrides."""
    copy_linking_checkpoints(src, sweep / job, ignore=shutil.ignore_patterns(".hydra"))
    (sweep / job / ".hydra").mkdir()
    (sweep / job / ".hydra" / "overrides.yaml").write_text("\n".join(f"- {o}" for o in overrides) + "\n")
    (sweep / job / ".hydra" / "config.yaml").write_text("data:\n  num_folds: 3\n")
    return sweep / job


def test_select_folds_never_mixes_trials_names_missing_folds_and_writes_weights_only(two_fold_run, tmp_path,
                                                                                   capsys):
    sweep = tmp_path / "sweep"
    _fake_trial(sweep, "0-aaa", ["model.lr=0.001"], two_fold_run)
    weaker = _fake_trial(sweep, "1-aaa", ["model.lr=0.0001"], two_fold_run)
    for summary in weaker.glob("fold_*/csv/version_0/metrics.csv"):  # trial 1 scores lower everywhere
        text = summary.read_text().splitlines()
        header = text[0].split(",")
        col = header.index("val/auroc")
        rows = [r.split(",") for r in text[1:]]
        for r in rows:
            if r[col]:
                r[col] = str(float(r[col]) / 2)
        summary.write_text("\n".join([text[0], *[",".join(r) for r in rows]]) + "\n")
    (sweep / "0-aaa" / "fold_1" / "summary.json").unlink()  # trial 0's fold 1 was interrupted
    cfg = compose_cfg("evaluate", ["task=select_folds", "task.wandb=false", f"task.runs={sweep}",
                                   f"task.selected_dir={tmp_path / 'selected'}"], tmp_path / "eval")
    chosen = select_folds(cfg)
    out = capsys.readouterr().out
    table = (tmp_path / "eval" / "fold_selection.csv").read_text()
    assert "0-aaa" in table and "1-aaa" not in table  # the better trial's folds only
    assert "2 different models" in out and "0-aaa/fold_1: not finished" in out
    assert "fold(s) 1, 2 of 3 missing; the mean below is over 1 fold(s)" in out
    raw = torch.load(chosen["alexnet"], map_location="cpu", weights_only=True)
    assert "optimizer_states" not in raw
    load_classifier(chosen["alexnet"], expect_backbone="alexnet")
    # run again: the table is shown, the selection is recognised as unchanged
    select_folds(cfg)
    again = capsys.readouterr().out
    assert "## alexnet" in again and "already selected" in again


def test_two_runs_of_one_setting_holding_the_same_fold_are_refused(two_fold_run, tmp_path):
    sweep = tmp_path / "sweep"
    _fake_trial(sweep, "0-aaa", ["model.lr=0.001"], two_fold_run)
    _fake_trial(sweep, "0-bbb", ["model.lr=0.001"], two_fold_run)
    cfg = compose_cfg("evaluate", ["task=select_folds", "task.wandb=false", f"task.runs={sweep}",
                                   f"task.selected_dir={tmp_path / 'selected'}"], tmp_path / "eval")
    with pytest.raises(UserError, match="fold 0 was trained twice with the same settings"):
        select_folds(cfg)


# --- what the deception table counts ----------------------------------------------------------
def _png(path: Path, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(path)
    return path


def test_deception_counts_stylized_results_only_and_each_file_once(tmp_path):
    out = tmp_path / "stylized"
    for i, stem in enumerate(["cat_vgg19", "dog_vgg19"]):
        _png(out / f"{stem}.png", i)
        _png(out / f"{stem}_sheet.png", 10 + i)
        (out / f"{stem}.json").write_text(json.dumps({"kind": "vangogh-lightning stylized image",
                                                      "image": f"{stem}.png"}))
    _png(out / "steps" / "cat_vgg19_s64_step00010.png")
    found = stylized_images(str(out), "task.stylized.vgg19")
    assert sorted(p.name for p in found) == ["cat_vgg19.png", "dog_vgg19.png"]
    # a plain folder (no records): sheets are still never counted; a symlink and an overlapping glob count once
    plain = tmp_path / "plain"
    _png(plain / "a.png")
    _png(plain / "a_sheet.png")
    os.symlink(plain / "a.png", plain / "b.png")
    found = stylized_images([str(plain), f"{plain}/*.png"], "task.stylized.alexnet")
    assert [p.name for p in found] == ["a.png"]


def test_stylize_never_gives_two_inputs_the_same_output_name(tmp_path):
    inputs = [Path("d1/x.jpg"), Path("d2/x.jpg"), Path("x-2.jpg"), Path("d3/X.png")]
    names = [p["image"].name for p in plan_outputs(inputs, tmp_path, "vgg19")]
    assert len({n.casefold() for n in names}) == len(names)


def test_keep_best_trial_keeps_checkpoints_of_the_best_finished_trial_only(tmp_path):
    from vangogh_lightning.training.run_folder import keep_checkpoints_of_best_trial

    sweep = tmp_path / "sweep"
    for job, mean in (("0-a", 0.7), ("1-a", 0.9), ("2-a", 0.8)):
        fold = sweep / job / "fold_0"
        (fold / "checkpoints").mkdir(parents=True)
        (fold / "checkpoints" / "best.ckpt").write_bytes(b"w")
        (fold / "summary.json").write_text(json.dumps({"best_checkpoint": "checkpoints/best.ckpt"}))
        (sweep / job / "cv_summary.json").write_text(json.dumps({"mean": mean}))
        keep_checkpoints_of_best_trial(sweep / job, mean, "max")
    kept = sorted(p.parts[-4] for p in sweep.rglob("best.ckpt"))
    assert kept == ["1-a"]
    assert json.loads((sweep / "0-a/fold_0/summary.json").read_text())["best_checkpoint"] is None
