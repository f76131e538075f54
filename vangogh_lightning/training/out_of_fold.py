"""Out-of-fold predictions: each validation image scored by its fold's best weights."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import pandas as pd
import torch

from vangogh_lightning.data.datamodule import VanGoghDataModule
from vangogh_lightning.models.classifier import VanGoghClassifier


def out_of_fold_predictions(trainer: L.Trainer, model: VanGoghClassifier, datamodule: VanGoghDataModule,
                            checkpoint: Path) -> pd.DataFrame:
    """One row per validation image of the current fold: path, artist, label, probability of Van Gogh.

    ``trainer.predict`` loads the best checkpoint's weights first, so these are the predictions of the
    model fold selection and evaluation use.
    """
    _, rows = datamodule.split(datamodule.fold)
    batches = trainer.predict(model, dataloaders=datamodule.val_dataloader(), ckpt_path=str(checkpoint))
    frame = rows[["filename", "path", "artist", "label"]].reset_index(drop=True).copy()
    frame["fold"] = datamodule.fold
    frame["p_van_gogh"] = torch.cat(batches).cpu().numpy() if batches else []
    frame["predicted"] = (frame["p_van_gogh"] >= model.hparams.threshold).astype(int)
    return frame
