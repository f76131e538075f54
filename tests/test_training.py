"""End-to-end training on synthetic data: learns, checkpoints, logs, refuses to overwrite."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import torch

from tests.conftest import SMALL_CHECKPOINTS, TINY_TRAIN, TRAINED_RUN, compose_cfg
from vangogh_lightning.config.entry import run_task
from vangogh_lightning.core.errors import UserError
from vangogh_lightning.data.datamodule import VanGoghDataModule
from vangogh_lightning.models.checkpoints import load_classifier
from vangogh_lightning.models.classifier import VanGoghClassifier
from vangogh_lightning.training.cross_validation import train


def fold_dirs(run: Path) -> list[Path]:
    return sorted(run.rglob("fold_*"))


def test_training_on_synthetic_data_reaches_auroc_0_9(trained_run):
    summaries = [json.loads((d / "summary.json").read_text()) for d in fold_dirs(trained_run)]
    assert [s["fold"] for s in summaries] == [0, 1]
    for s in summaries:
        assert s["monitor"] == "val/auroc"
        assert s["best_score"] >= 0.9


def test_each_fold_writes_metrics_csv_checkpoints_and_resolved_config(trained_run):
    for d in fold_dirs(trained_run):
        metrics = pd.read_csv(d / "csv" / "version_0" / "metrics.csv")
        for col in ("val/loss", "val/auroc", "val/f1", "val/acc", "val/bal_acc", "train/loss"):
            assert col in metrics.columns
        # a finished fold keeps its best epoch only; the resume point went with the last epoch
        assert sorted(p.name for p in (d / "checkpoints").iterdir()) == ["best.ckpt"]
    assert (trained_run / "config_resolved.yaml").is_file()
    assert json.loads((trained_run / "cv_summary.json").read_text())["per_fold"]["0"] >= 0.9


def test_best_checkpoint_reloads_to_identical_predictions(trained_run):
    ckpt = trained_run / "fold_0" / "checkpoints" / "best.ckpt"
    a, size = load_classifier(ckpt)
    b = VanGoghClassifier.load_from_checkpoint(ckpt, pretrained=False, map_location="cpu").eval()
    assert size == 64
    x = torch.randn(4, 3, 64, 64)
    assert torch.equal(a.predict_proba(x), b.predict_proba(x))


def test_full_cross_validation_returns_the_mean_over_folds(tmp_path):
    cfg = compose_cfg("train", [*TINY_TRAIN, "data.num_folds=2", "trainer.max_epochs=1",
                                "data.synthetic_count=40"], tmp_path)
    mean = train(cfg)
    result = json.loads((tmp_path / "cv_summary.json").read_text())
    assert set(result["per_fold"]) == {"0", "1"}
    assert mean == pytest.approx(sum(result["per_fold"].values()) / 2)


def test_a_finished_run_folder_is_never_overwritten(trained_run):
    cfg = compose_cfg("train", [*TRAINED_RUN, "fold=0"], trained_run)
    before = (trained_run / "fold_0" / "checkpoints" / "best.ckpt").stat().st_mtime_ns
    with pytest.raises(UserError, match="already holds a training run; pass ckpt_path=last"):
        train(cfg)
    assert (trained_run / "fold_0" / "checkpoints" / "best.ckpt").stat().st_mtime_ns == before


def test_out_of_range_fold_fails_before_training(tmp_path, capsys):
    cfg = compose_cfg("train", [*TINY_TRAIN, "fold=5"], tmp_path)
    with pytest.raises(SystemExit) as ended:
        run_task(train, cfg, "train")
    assert ended.value.code == 2 and capsys.readouterr().err.startswith("error: fold=5: out of range")
    assert not list(tmp_path.rglob("*.ckpt"))


def test_auto_positive_weight_is_negatives_over_positives():
    dm = VanGoghDataModule(source="synthetic", synthetic_count=40, synthetic_positive_share=0.25,
                           image_size=32, num_workers=0, num_folds=2)
    dm.fold = 0
    train_rows, _ = dm.split(0)
    pos = train_rows["label"].sum()
    assert dm.positive_weight() == pytest.approx((len(train_rows) - pos) / pos)


def test_a_checkpoint_file_resumes_one_fold_only(tmp_path, capsys):
    (tmp_path / "file.ckpt").write_bytes(b"")
    cfg = compose_cfg("train", [*TINY_TRAIN, f"ckpt_path={tmp_path / 'file.ckpt'}"], tmp_path / "run")
    with pytest.raises(SystemExit):
        run_task(train, cfg, "train")
    assert capsys.readouterr().err.startswith(f"error: ckpt_path={tmp_path / 'file.ckpt'}: a checkpoint file resumes "
                                              "one fold; add fold=")


def test_each_fold_saves_out_of_fold_predictions_of_its_best_weights(trained_run):
    from torchmetrics.functional.classification import binary_auroc

    from vangogh_lightning.evaluation.scoring import artists_taken_for_van_gogh, confusion

    for fold_dir in fold_dirs(trained_run):
        summary = json.loads((fold_dir / "summary.json").read_text())
        oof = pd.read_csv(fold_dir / "oof_predictions.csv")
        assert list(oof.columns) == ["filename", "path", "artist", "label", "fold", "p_van_gogh", "predicted"]
        assert (oof["fold"] == summary["fold"]).all() and oof["p_van_gogh"].between(0, 1).all()
        # the validation images of this fold, each once, scored by the best checkpoint's weights
        auroc = binary_auroc(torch.tensor(oof["p_van_gogh"].values), torch.tensor(oof["label"].values))
        assert auroc.item() == pytest.approx(summary["best_score"], abs=1e-4)
        assert oof["filename"].is_unique and sum(confusion(oof).values()) == len(oof)
        taken = artists_taken_for_van_gogh(oof)
        assert set(taken["artist"]) <= set(oof.loc[oof["label"] == 0, "artist"])


def test_a_fold_resumes_from_a_checkpoint_file_given_under_the_home_folder(tmp_path, monkeypatch):
    tiny = [*TINY_TRAIN, *SMALL_CHECKPOINTS, "data.num_folds=2", "data.synthetic_count=24", "fold=0",
            "callbacks.early_stopping=null"]
    train(compose_cfg("train", [*tiny, "trainer.max_epochs=1", "checkpoints.keep_last=true"], tmp_path / "first"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    shutil.copy(tmp_path / "first/fold_0/checkpoints/last.ckpt", tmp_path / "home/last.ckpt")
    train(compose_cfg("train", [*tiny, "trainer.max_epochs=2", "ckpt_path='~/last.ckpt'"], tmp_path / "again"))
    (metrics_csv,) = (tmp_path / "again/fold_0/csv").glob("version_*/metrics.csv")
    validated = pd.read_csv(metrics_csv).dropna(subset=["val/auroc"])["epoch"].tolist()
    assert validated == [1]  # epoch 0 came from the checkpoint; only epoch 1 was trained
