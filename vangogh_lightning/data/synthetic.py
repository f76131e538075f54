"""Generated paintings: swirly brush-stroke textures (positive) vs. flat colour fields (negative)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from PIL import Image


def render_synthetic(seed: int, label: int, size: int) -> Image.Image:
    """Render one deterministic image: label 1 = swirling strokes, label 0 = flat colour blocks."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    if label == 1:
        cx, cy = rng.uniform(0.2, 0.8, size=2)
        radius = np.hypot(xx - cx, yy - cy)
        angle = np.arctan2(yy - cy, xx - cx)
        freq = rng.uniform(18, 30)
        twist = rng.uniform(4, 9)
        strokes = np.sin(freq * radius + twist * angle + rng.uniform(0, 2 * np.pi))
        strokes += 0.5 * np.sin(freq * 2.3 * (xx * np.cos(angle) + yy * np.sin(angle)))
        base = rng.uniform(0.1, 0.6, size=3)  # night blues and ochres
        accent = rng.uniform(0.5, 1.0, size=3)
        mix = (strokes[..., None] + 1.5) / 3.0
        img = base * (1 - mix) + accent * mix
    else:
        img = np.empty((size, size, 3), dtype=np.float32)
        img[:] = rng.uniform(0, 1, size=3)
        for _ in range(rng.integers(1, 4)):
            x0, y0 = rng.integers(0, size, size=2)
            x1, y1 = x0 + rng.integers(size // 4, size), y0 + rng.integers(size // 4, size)
            img[y0:y1, x0:x1] = rng.uniform(0, 1, size=3)
    img = img + rng.normal(0, 0.02, size=img.shape)
    return Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8), "RGB")


def synthetic_index(count: int, positive_share: float, seed: int) -> pd.DataFrame:
    """An index of ``count`` generated images, ``positive_share`` of them positive."""
    n_pos = int(round(count * positive_share))
    labels = np.repeat([1, 0], [n_pos, count - n_pos])
    return pd.DataFrame({"filename": [f"synthetic-{i:05d}.png" for i in range(count)], "path": None, "label": labels,
                         "artist": np.where(labels == 1, "synthetic swirls", "synthetic fields"), "phash": "",
                         "seed": seed * 1_000_003 + np.arange(count)})
