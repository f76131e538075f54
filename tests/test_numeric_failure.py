"""A fit that diverges (NaN or infinite losses, metrics or weights) stops at once with one line, is
never recorded as finished, is never selected, and its weights are refused wherever a checkpoint is read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tests.conftest import TINY_TRAIN, compose_cfg
from vangogh_lightning.core.errors import UserError
from vangogh_lightning.evaluation.folds.runs import find_fold_runs
from vangogh_lightning.evaluation.tasks import classify
from vangogh_lightning.models.classifier import NonFiniteError, VanGoghClassifier, check_finite
from vangogh_lightning.training.cross_validation import train

METRICS_CSV = """epoch,step,train/loss,val/acc,val/auroc,val/bal_acc,val/f1,val/loss
0,4,,0.73,0.93,0.73,0.78,0.69
0,4,{loss},,,,,
1,9,,0.73,0.95,0.73,0.64,0.60
1,9,0.67,,,,,
"""


def finished_fold(run: Path, fold: int, loss: str = "0.69") -> Path:
    """A fold folder as train.py leaves a finished one: summary.json and the CSV logger's metrics."""
    folder = run / f"fold_{fold}"
    (folder / "csv" / "version_0").mkdir(parents=True)
    (folder / "csv" / "version_0" / "metrics.csv").write_text(METRICS_CSV.format(loss=loss))
    (folder / "summary.json").write_text(json.dumps({"backbone": "alexnet", "fold": fold, "monitor": "val/auroc",
                                                     "mode": "max", "best_score": 0.95, "best_checkpoint": None}))
    return folder


def test_a_diverging_fold_stops_with_one_line_and_is_left_out_of_selection(tmp_path):
    run = tmp_path / "diverged"
    cfg = compose_cfg("train", [*TINY_TRAIN, "data.num_folds=4", "fold=0", "model.lr=1e6",
                                "checkpoints.keep_last=true"], run)
    with pytest.raises(UserError) as err:
        train(cfg)
    message = str(err.value)
    assert message.startswith("fold 0 diverged: the training loss is ") and " at epoch 0, batch " in message
    assert "Lower model.lr (now 1000000.0)" in message and "\n" not in message
    fold = run / "fold_0"
    assert not (fold / "summary.json").exists()  # never recorded as finished
    assert (fold / "failed.txt").read_text().strip() == message
    for checkpoint in fold.rglob("*.ckpt"):  # nothing non-finite was saved (checked before the writers run)
        state = torch.load(checkpoint, weights_only=True)["state_dict"]
        assert all(bool(torch.isfinite(t).all()) for t in state.values() if t.is_floating_point())
    healthy = finished_fold(tmp_path / "healthy", 1)
    runs, warnings = find_fold_runs([run, tmp_path / "healthy"])
    assert [r.fold_dir for r in runs] == [healthy]
    assert f"{fold}: left out: {message}" in warnings


def test_a_fold_recorded_as_finished_with_nan_metrics_is_not_a_candidate(tmp_path):
    # as an older version left it: summary.json written, a NaN training loss in metrics.csv
    old = finished_fold(tmp_path / "old", 0, loss="nan")
    with pytest.raises(UserError, match="no finished folds found"):
        find_fold_runs([tmp_path / "old"])
    healthy = finished_fold(tmp_path / "healthy", 0)
    runs, warnings = find_fold_runs([tmp_path / "old", tmp_path / "healthy"])
    assert [r.fold_dir for r in runs] == [healthy]
    assert warnings == [f"{old}: diverged (train/loss is nan at epoch 0), left out; train it again"]


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_a_checkpoint_with_non_finite_weights_is_refused_by_name(tmp_path, bad):
    torch.manual_seed(0)
    model = VanGoghClassifier(backbone="alexnet", pretrained=False)
    state = model.state_dict()
    state["net.classifier.6.bias"][0] = bad
    checkpoint = tmp_path / "diverged.ckpt"
    torch.save({"state_dict": state, "hyper_parameters": dict(model.hparams)}, checkpoint)
    cfg = compose_cfg("evaluate", ["task=classify", f"task.checkpoint={checkpoint}", f"task.images={tmp_path}",
                                   "device=cpu"], tmp_path / "eval")
    with pytest.raises(UserError) as err:
        classify(cfg)
    assert str(err.value) == (f"task.checkpoint={checkpoint}: the weight net.classifier.6.bias is not finite (the "
                              "fit that wrote it diverged); retrain with a lower model.lr or use another fold's "
                              "checkpoint")
    assert not (tmp_path / "eval" / "predictions.csv").exists()


@pytest.mark.parametrize("metric", ["val/loss", "val/auroc"])
def test_the_check_stops_at_a_non_finite_validation_metric(metric):
    metrics = {"val/acc": torch.tensor(0.5), metric: torch.tensor(float("nan"))}
    with pytest.raises(NonFiniteError, match=f"^{metric} is nan at epoch 3$"):
        check_finite(metrics, torch.nn.Linear(2, 1), 3)


def test_the_check_names_the_first_non_finite_weight_and_passes_a_finite_model():
    metrics = {"val/loss": torch.tensor(0.7)}
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 1))
    check_finite(metrics, model, 1)  # finite: nothing happens
    with torch.no_grad():
        model[1].weight[0, 1] = float("-inf")
    with pytest.raises(NonFiniteError, match="^the weight 1.weight is not finite after epoch 1$"):
        check_finite(metrics, model, 1)


def test_the_validation_loss_keeps_a_nan_instead_of_dropping_it_and_keeps_the_sample_weights():
    model = VanGoghClassifier(backbone="alexnet", pretrained=False)
    model.val_loss.update(torch.tensor(0.5), weight=3)
    model.val_loss.update(torch.tensor(1.0), weight=1)
    assert float(model.val_loss.compute()) == pytest.approx(0.625)  # (3 x 0.5 + 1 x 1.0) / 4 samples
    model.val_loss.update(torch.tensor(float("nan")), weight=2)
    assert torch.isnan(model.val_loss.compute())
