"""Probability of 'Van Gogh' for image files, with the training validation transform."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch

from vangogh_lightning.data.transforms import eval_transform
from vangogh_lightning.images import load_rgb
from vangogh_lightning.models.classifier import VanGoghClassifier


@torch.no_grad()
def predict_files(model: VanGoghClassifier, paths: list[Path], image_size: int,
                  batch_size: int = 16, device: str = "cpu") -> list[float]:
    """Probabilities, in the order of ``paths``."""
    transform = eval_transform(image_size)
    model = model.to(device).eval()
    probs: list[float] = []
    for start in range(0, len(paths), batch_size):
        chunk = paths[start:start + batch_size]
        batch = torch.stack([transform(load_rgb(p, max_side=4 * image_size)) for p in chunk])
        probs.extend(model.predict_proba(batch.to(device)).float().cpu().tolist())
    return probs


def classify_table(model: VanGoghClassifier, paths: list[Path], image_size: int,
                   threshold: float, batch_size: int = 16, device: str = "cpu") -> pd.DataFrame:
    """Columns: image, p_van_gogh, van_gogh (p >= threshold)."""
    probs = predict_files(model, paths, image_size, batch_size, device)
    return pd.DataFrame({
        "image": [str(p) for p in paths],
        "p_van_gogh": probs,
        "van_gogh": [p >= threshold for p in probs],
    })
