"""Scoring images with a classifier (``task=classify``; ``task=test``: its run's held-out test split), and the
tables and curves of scored predictions. Torch is imported only to score: the study page reads the tables."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from vangogh_lightning.core.errors import UserError
from vangogh_lightning.core.images import load_rgb

if TYPE_CHECKING:
    import torch

    from vangogh_lightning.models.classifier import VanGoghClassifier

TEST_METRICS = ("auroc", "f1", "acc", "bal_acc")


class ImageFiles:
    """Image files as a dataset, decoded (at most 4x the working size) and transformed as for validation."""

    def __init__(self, paths: Sequence[Path], image_size: int):
        from vangogh_lightning.data.transforms import eval_transform

        self.paths, self.transform, self.max_side = list(paths), eval_transform(image_size), 4 * image_size

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.transform(load_rgb(self.paths[index], max_side=self.max_side))


def _predict(model: VanGoghClassifier, loader: Any, device: str) -> torch.Tensor:
    """P(Van Gogh) of every image of ``loader`` (``Trainer.predict`` on one device), as float32 on the CPU."""
    import lightning as L
    import torch

    from vangogh_lightning.core.devices import pick_device, trainer_device

    trainer = L.Trainer(**trainer_device(pick_device(device)), logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False)
    batches = trainer.predict(model, dataloaders=loader)
    return torch.cat(batches).float().cpu() if batches else torch.empty(0)


def predict_files(model: VanGoghClassifier, paths: list[Path], image_size: int,
                  batch_size: int = 16, device: str = "cpu") -> list[float]:
    """Probabilities, in the order of ``paths``, with the training validation transform."""
    from torch.utils.data import DataLoader

    return _predict(model, DataLoader(ImageFiles(paths, image_size), batch_size=batch_size), device).tolist()


def classify_table(model: VanGoghClassifier, paths: list[Path], image_size: int,
                   threshold: float, batch_size: int = 16, device: str = "cpu") -> pd.DataFrame:
    """Columns: image, p_van_gogh, van_gogh (p >= threshold)."""
    probs = predict_files(model, paths, image_size, batch_size, device)
    return pd.DataFrame({"image": [str(p) for p in paths], "p_van_gogh": probs,
                         "van_gogh": [p >= threshold for p in probs]})


def score_test_split(checkpoint: str | Path, batch_size: int, threshold: float | None, device: str,
                     key: str = "task.checkpoint") -> tuple[dict[str, Any], pd.DataFrame]:
    """(metrics, a row per held-out image with its probability) of ``checkpoint`` on the test split its run
    recorded (:mod:`~vangogh_lightning.data.record`): exactly those files, each checked to be unchanged."""
    import torch
    from torch.utils.data import DataLoader

    from vangogh_lightning.core.torch_files import load_torch_file
    from vangogh_lightning.data.datamodule import IndexedImages
    from vangogh_lightning.data.record import held_out_rows, record_in
    from vangogh_lightning.data.transforms import eval_transform
    from vangogh_lightning.models.checkpoints import load_classifier
    from vangogh_lightning.models.metrics import make_metrics

    raw = load_torch_file(checkpoint, key, "checkpoint", mmap=True)
    settings = raw.get("datamodule_hyper_parameters") if isinstance(raw, dict) else None
    if not settings:
        raise UserError(f"{key}={checkpoint}: holds no data settings (not a checkpoint of train.py)")
    if not settings.get("test_fraction"):
        raise UserError(f"{key}={checkpoint}: its run held no test split out (data.test_fraction=0, the report's "
                        "protocol); train with data.test_fraction=0.15 (for example) to evaluate on unseen paintings")
    record = record_in(raw)
    if record is None:
        raise UserError(f"{key}={checkpoint}: holds no record of the data its run used (written before runs "
                        "recorded it), so which images were held out cannot be known for sure; retrain it")
    rows = held_out_rows(record, key, checkpoint)
    images = IndexedImages(rows, eval_transform(settings["image_size"]), settings["synthetic_render_size"],
                           settings["max_decode_side"], settings["max_image_pixels"])
    model, _ = load_classifier(checkpoint, key=key)
    threshold = model.hparams.threshold if threshold is None else threshold
    probabilities = _predict(model, DataLoader(images, batch_size=batch_size), device)
    targets = torch.tensor(rows["label"].to_numpy(), dtype=torch.long)
    scores = make_metrics(threshold)(probabilities, targets)
    summary = {"checkpoint": str(checkpoint), "backbone": model.hparams.backbone, "images": len(rows),
               "positives": int(targets.sum()), "threshold": threshold,
               **{f"test/{m}": float(scores[m]) for m in TEST_METRICS}}
    predictions = rows[["filename", "path", "artist", "label"]].assign(p_van_gogh=probabilities.numpy())
    return summary, predictions.assign(predicted=(predictions["p_van_gogh"] >= threshold).astype(int))


def roc_pr(probabilities: Any, labels: Any) -> dict[str, tuple[list[float], list[float]]]:
    """``{"roc": (false positive rates, true positive rates), "pr": (recalls, precisions)}`` of probabilities
    against 0/1 labels, as torchmetrics' ``binary_roc`` and ``binary_precision_recall_curve`` give them."""
    import torch
    from torchmetrics.functional.classification import binary_precision_recall_curve, binary_roc

    p = torch.tensor(np.asarray(probabilities, dtype=np.float64))  # (a copy: pandas' arrays may be read-only)
    y = torch.tensor(np.asarray(labels, dtype=np.int64))
    fpr, tpr, _ = binary_roc(p, y)
    precision, recall, _ = binary_precision_recall_curve(p, y)
    return {"roc": (fpr.tolist(), tpr.tolist()), "pr": (recall.tolist(), precision.tolist())}


def confusion(frame: pd.DataFrame) -> dict[str, int]:
    """True/false positives/negatives of predictions (``label``, ``predicted``: out-of-fold or test)."""
    tn, fp, fn, tp = np.bincount(2 * frame["label"].astype(int) + frame["predicted"].astype(int), minlength=4).tolist()
    return {"tp": tp, "fn": fn, "fp": fp, "tn": tn}


def artists_taken_for_van_gogh(frame: pd.DataFrame, top: int = 10) -> pd.DataFrame:
    """Other artists whose paintings were judged Van Gogh most often: count, share of their paintings."""
    others = frame[frame["label"] == 0]
    if others.empty:
        return pd.DataFrame(columns=["artist", "taken_for_van_gogh", "paintings", "share"])
    grouped = others.groupby("artist")["predicted"].agg(taken_for_van_gogh="sum", paintings="count", share="mean")
    grouped = grouped[grouped["taken_for_van_gogh"] > 0].reset_index()
    return grouped.sort_values(["taken_for_van_gogh", "share"], ascending=False).head(top).reset_index(drop=True)
