"""Out-of-fold predictions: each validation image scored by its fold's best weights."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch

from vangogh_lightning.data.datamodule import VanGoghDataModule
from vangogh_lightning.models.classifier import VanGoghClassifier
from vangogh_lightning.torch_files import load_torch_file

OOF_FILE = "oof_predictions.csv"


@torch.no_grad()
def out_of_fold_predictions(model: VanGoghClassifier, datamodule: VanGoghDataModule, checkpoint: Path | None
                            ) -> pd.DataFrame:
    """One row per validation image of the current fold: path, artist, label, probability of Van Gogh.

    The model gets the best checkpoint's weights first (``checkpoint``; None = the weights as they
    are), so these are the predictions of the model fold selection and evaluation use.
    """
    if checkpoint is not None:
        state = load_torch_file(checkpoint, "best checkpoint", "checkpoint")["state_dict"]
        model.load_state_dict(state)
    model.eval()
    device = next(model.parameters()).device
    _, rows = datamodule.split(datamodule.fold)
    probs = []
    for images, _targets in datamodule.val_dataloader():
        probs.append(model.predict_proba(images.to(device)).float().cpu())
    frame = rows[["filename", "path", "artist", "label"]].reset_index(drop=True).copy()
    frame["fold"] = datamodule.fold
    frame["p_van_gogh"] = torch.cat(probs).numpy() if probs else []
    frame["predicted"] = (frame["p_van_gogh"] >= model.hparams.threshold).astype(int)
    return frame


def confusion(frame: pd.DataFrame) -> dict[str, int]:
    """True/false positives/negatives of out-of-fold predictions."""
    label, pred = frame["label"].astype(int), frame["predicted"].astype(int)
    return {"tp": int(((label == 1) & (pred == 1)).sum()), "fn": int(((label == 1) & (pred == 0)).sum()),
            "fp": int(((label == 0) & (pred == 1)).sum()), "tn": int(((label == 0) & (pred == 0)).sum())}


def artists_taken_for_van_gogh(frame: pd.DataFrame, top: int = 10) -> pd.DataFrame:
    """Other artists whose paintings were judged Van Gogh most often: count, share of their paintings."""
    others = frame[frame["label"] == 0]
    if others.empty:
        return pd.DataFrame(columns=["artist", "taken_for_van_gogh", "paintings", "share"])
    grouped = others.groupby("artist")["predicted"].agg(["sum", "count"]).reset_index()
    grouped.columns = ["artist", "taken_for_van_gogh", "paintings"]
    grouped["share"] = grouped["taken_for_van_gogh"] / grouped["paintings"]
    grouped = grouped[grouped["taken_for_van_gogh"] > 0]
    return grouped.sort_values(["taken_for_van_gogh", "share"], ascending=False).head(top).reset_index(drop=True)
