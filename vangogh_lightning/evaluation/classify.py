"""Probability of 'Van Gogh' for image files, with the training validation transform."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import lightning as L
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset

from vangogh_lightning.core.devices import pick_device, trainer_device
from vangogh_lightning.core.images import load_rgb
from vangogh_lightning.data.transforms import eval_transform
from vangogh_lightning.models.classifier import VanGoghClassifier


class ImageFiles(Dataset):
    """Image files, each decoded (at most 4x the working size) and transformed."""

    def __init__(self, paths: list[Path], transform: Callable, max_side: int):
        self.paths, self.transform, self.max_side = list(paths), transform, max_side

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.transform(load_rgb(self.paths[index], max_side=self.max_side))


def predict_files(model: VanGoghClassifier, paths: list[Path], image_size: int,
                  batch_size: int = 16, device: str = "cpu") -> list[float]:
    """Probabilities, in the order of ``paths`` (``Trainer.predict`` on one device)."""
    loader = DataLoader(ImageFiles(paths, eval_transform(image_size), 4 * image_size), batch_size=batch_size)
    trainer = L.Trainer(**trainer_device(pick_device(device)), logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False)
    batches = trainer.predict(model, dataloaders=loader)
    return torch.cat(batches).cpu().tolist() if batches else []


def classify_table(model: VanGoghClassifier, paths: list[Path], image_size: int,
                   threshold: float, batch_size: int = 16, device: str = "cpu") -> pd.DataFrame:
    """Columns: image, p_van_gogh, van_gogh (p >= threshold)."""
    probs = predict_files(model, paths, image_size, batch_size, device)
    return pd.DataFrame({
        "image": [str(p) for p in paths],
        "p_van_gogh": probs,
        "van_gogh": [p >= threshold for p in probs],
    })
