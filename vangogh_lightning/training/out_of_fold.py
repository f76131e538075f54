"""Out-of-fold predictions: each validation image scored by its fold's best weights."""

from __future__ import annotations

import math
from pathlib import Path

import lightning as L
import pandas as pd
import torch

from vangogh_lightning.core.console import rank_zero_print
from vangogh_lightning.data.datamodule import VanGoghDataModule
from vangogh_lightning.models.classifier import VanGoghClassifier
from vangogh_lightning.training.progress import duration


def out_of_fold_predictions(trainer: L.Trainer, model: VanGoghClassifier, datamodule: VanGoghDataModule,
                            checkpoint: Path, images_per_s: float | None = None) -> pd.DataFrame:
    """One row per validation image of the current fold: path, artist, label, probability of Van Gogh.

    ``trainer.predict`` loads the best checkpoint's weights first, so these are the predictions of the
    model fold selection and evaluation use. The pass keeps to ``trainer.limit_val_batches`` (a debug
    run scores as many images as it validated); it is announced with its size and, given the fit's
    validation speed ``images_per_s``, how long it will take.
    """
    _, rows = datamodule.split(datamodule.fold)
    loader = datamodule.val_dataloader()
    trainer.limit_predict_batches = trainer.limit_val_batches
    limit = trainer.limit_val_batches
    batches = len(loader)
    kept = min(batches, int(limit) if isinstance(limit, int) else math.floor(batches * float(limit)))
    images = min(len(rows), kept * (loader.batch_size or 1))
    limited = f" (of {len(rows)}: trainer.limit_val_batches={limit})" if images < len(rows) else ""
    eta = f", about {duration(images / images_per_s)}" if images_per_s else ""
    rank_zero_print(f"fold {datamodule.fold}: out-of-fold pass, scoring {images} validation images{limited} with "
                    f"{checkpoint.name}{eta}", flush=True)
    predicted = trainer.predict(model, dataloaders=loader, ckpt_path=str(checkpoint))
    frame = rows[["filename", "path", "artist", "label"]].reset_index(drop=True).copy()
    probabilities = torch.cat(predicted).cpu().numpy() if predicted else []
    frame = frame.iloc[:len(probabilities)].copy()
    frame["fold"] = datamodule.fold
    frame["p_van_gogh"] = probabilities
    frame["predicted"] = (frame["p_van_gogh"] >= model.hparams.threshold).astype(int)
    return frame
