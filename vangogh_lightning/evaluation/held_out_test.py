"""A classifier on its training run's held-out test split (``data.test_fraction``): metrics and curves.

The split is rebuilt from the data settings the checkpoint carries (Lightning stores the data
module's hyper-parameters in every checkpoint), so it is the one the run held out of every fold.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import pandas as pd
import torch

from vangogh_lightning.core.devices import pick_device, trainer_device
from vangogh_lightning.core.errors import UserError
from vangogh_lightning.core.torch_files import load_torch_file
from vangogh_lightning.data.datamodule import VanGoghDataModule
from vangogh_lightning.models.checkpoints import load_classifier
from vangogh_lightning.models.metrics import make_metrics

METRICS = ("auroc", "f1", "acc", "bal_acc")


def held_out_data(checkpoint: str | Path, batch_size: int, key: str = "task.checkpoint") -> VanGoghDataModule:
    """The data module of the run that wrote ``checkpoint``, with its held-out test split."""
    raw = load_torch_file(checkpoint, key, "checkpoint", mmap=True)
    settings = raw.get("datamodule_hyper_parameters") if isinstance(raw, dict) else None
    if not settings:
        raise UserError(f"{key}={checkpoint}: holds no data settings (not a checkpoint of train.py)")
    if not settings.get("test_fraction"):
        raise UserError(f"{key}={checkpoint}: its run held no test split out (data.test_fraction=0, the report's "
                        "protocol); train with data.test_fraction=0.15 (for example) to evaluate on unseen paintings")
    return VanGoghDataModule(**{**settings, "batch_size": batch_size, "num_workers": 0})


def score_test_split(checkpoint: str | Path, batch_size: int, threshold: float | None, device: str
                    ) -> tuple[dict[str, Any], pd.DataFrame]:
    """(metrics, one row per held-out image with its probability) of ``checkpoint`` on its test split."""
    datamodule = held_out_data(checkpoint, batch_size)
    model, _ = load_classifier(checkpoint, key="task.checkpoint")
    threshold = model.hparams.threshold if threshold is None else threshold
    rows = datamodule.test_rows().reset_index(drop=True)
    trainer = L.Trainer(**trainer_device(pick_device(device)), logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False)
    probabilities = torch.cat(trainer.predict(model, dataloaders=datamodule.test_dataloader())).float().cpu()
    targets = torch.tensor(rows["label"].to_numpy(), dtype=torch.long)
    metrics = make_metrics(threshold)
    metrics.update(probabilities, targets)
    scores = {name: float(value) for name, value in metrics.compute().items()}
    summary = {"checkpoint": str(checkpoint), "backbone": model.hparams.backbone, "images": len(rows),
               "positives": int(targets.sum()), "threshold": threshold, **{f"test/{m}": scores[m] for m in METRICS}}
    predictions = rows[["filename", "path", "artist", "label"]].copy()
    predictions["p_van_gogh"] = probabilities.numpy()
    predictions["predicted"] = (predictions["p_van_gogh"] >= threshold).astype(int)
    return summary, predictions
