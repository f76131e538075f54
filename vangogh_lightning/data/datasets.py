"""torch Datasets over an index table."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import torch
from torch.utils.data import Dataset

from vangogh_lightning.core.images import load_rgb
from vangogh_lightning.data.input_cache import InputCache
from vangogh_lightning.data.synthetic import render_synthetic


class IndexedImages(Dataset):
    """Images named by an index table (``path`` or synthetic ``seed``) with their 0/1 labels; files are
    read through ``cache`` (decoded once, see :mod:`input_cache`) when one is given."""

    def __init__(self, frame: pd.DataFrame, transform: Callable, render_size: int = 96,
                 max_side: int | None = None, max_pixels: int | None = None, cache: InputCache | None = None):
        self.frame = frame.reset_index(drop=True)
        self.transform = transform
        self.render_size = render_size
        self.max_side = max_side  # decode large paintings at reduced scale (JPEG draft mode)
        self.max_pixels = max_pixels  # explicit: spawned loader workers do not inherit set_max_pixels
        self.cache = cache

    def __len__(self) -> int:
        return len(self.frame)

    def __getitem__(self, idx: int) -> tuple[torch.Tensor, torch.Tensor]:
        row = self.frame.iloc[idx]
        if row["path"] is None:
            image = render_synthetic(int(row["seed"]), int(row["label"]), self.render_size)
        elif self.cache is not None:
            image = self.cache.load(row["path"])
        else:
            image = load_rgb(row["path"], max_side=self.max_side, max_pixels=self.max_pixels)
        return self.transform(image), torch.tensor(float(row["label"]))
