"""Does the loader keep up with the model? Images/s of the training loader alone (decoding every epoch,
and with the decoded-input cache, cold and warm) beside images/s of the model alone (a training step
on tensors already in memory), AlexNet and VGG-19 at 224 px, default workers, this machine.

The tree is WikiArt-shaped at the report's scale: ``--count`` JPEGs (default 6,450) of 1024x768 made
from the real paintings of ../shared/data (each shifted, so no two files are alike), in the Kaggle
layout with a classes.csv. Only the training loader of fold 0 is timed (what an epoch reads).

    .venv/bin/python bench/loader_bench.py --dataset-dir /tmp/wikiart-bench     # keeps the tree
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.common import SHARED, device_name, write_result  # noqa: E402
from vangogh_lightning.data.datamodule import VanGoghDataModule  # noqa: E402
from vangogh_lightning.models.classifier import VanGoghClassifier  # noqa: E402


def make_tree(root: Path, count: int, side: int) -> Path:
    """``count`` paintings of ``side`` x ``side * 3 // 4`` px in the WikiArt layout; returns classes.csv."""
    csv = root / "classes.csv"
    if csv.is_file() and len(pd.read_csv(csv)) == count:
        return csv
    sources = [np.asarray(Image.open(p).convert("RGB").resize((side, side * 3 // 4)))
               for p in sorted((SHARED / "paintings").glob("*.jpg"))]
    rows = []
    for i in range(count):
        artist = "vincent van gogh" if i % 7 == 0 else "paul gauguin"  # ~14 % Van Gogh, as in the report
        name = f"Post_Impressionism/{artist.replace(' ', '-')}_painting-{i}.jpg"
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.roll(sources[i % len(sources)], i, axis=1)).save(root / name, quality=90)
        rows.append({"filename": name, "artist": artist, "phash": f"{i:016x}"})
    pd.DataFrame(rows).to_csv(csv, index=False)
    return csv


def loader_rate(root: Path, csv: Path, cache: str | bool, args: argparse.Namespace) -> dict:
    """Images/s of one pass of fold 0's training loader (index validation not timed)."""
    dm = VanGoghDataModule(source="wikiart", image_root=str(root), csv_path=str(csv), image_size=args.size,
                           batch_size=args.batch_size, num_workers=args.workers, persistent_workers=False,
                           validation_cache=str(root / "validation.json"), input_cache=cache)
    dm.setup("fit")
    torch.manual_seed(0)  # the same shuffled order every pass: a warm pass reads what the cold one stored
    images, start = 0, time.perf_counter()
    for batch, _ in dm.train_dataloader():
        images += len(batch)
        if images >= args.loader_images:
            break
    seconds = time.perf_counter() - start
    return {"images": images, "seconds": round(seconds, 1), "images_per_s": round(images / seconds, 1)}


def model_rate(backbone: str, args: argparse.Namespace) -> dict:
    """Images/s of training steps on in-memory tensors (default freeze, Adam, fp32, CPU)."""
    torch.manual_seed(0)
    model = VanGoghClassifier(backbone=backbone, pretrained=False).train()
    optimizer = model.configure_optimizers()
    images = torch.randn(args.batch_size, 3, args.size, args.size)
    targets = torch.randint(0, 2, (args.batch_size,)).float()

    def step() -> None:
        optimizer.zero_grad()
        model.loss_fn(model(images), targets).backward()
        optimizer.step()

    for _ in range(2):
        step()
    start = time.perf_counter()
    for _ in range(args.model_batches):
        step()
    seconds = time.perf_counter() - start
    return {"images_per_s": round(args.model_batches * args.batch_size / seconds, 2)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=6450)
    ap.add_argument("--side", type=int, default=1024)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--workers", type=lambda v: v if v == "auto" else int(v), default="auto")
    ap.add_argument("--loader-images", type=int, default=1600, help="images timed per loader pass")
    ap.add_argument("--model-batches", type=int, default=8)
    ap.add_argument("--dataset-dir", type=Path, default=None)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = args.dataset_dir or Path(tmp) / "wikiart"
        started = time.perf_counter()
        csv = make_tree(root, args.count, args.side)
        made = time.perf_counter() - started
        cache = Path(tmp) / "inputs"  # a cold cache every run
        loaders = {"decode every epoch (data.input_cache=false)": loader_rate(root, csv, False, args),
                   "cache, first pass (fills it)": loader_rate(root, csv, str(cache), args),
                   "cache, later passes (every other epoch, fold, trial)": loader_rate(root, csv, str(cache), args)}
        models = {b: model_rate(b, args) for b in ("alexnet", "vgg19")}
        disk = sum(p.stat().st_size for p in cache.rglob("*.npy"))
        entries = len(list(cache.rglob("*.npy")))
    record = {"device": device_name(torch.device("cpu")), "args": {k: str(v) for k, v in vars(args).items()},
              "tree_seconds": round(made, 1), "loader": loaders, "model": models,
              "cache_disk_mb_per_image": round(disk / max(entries, 1) / 1e6, 3),
              "loader_over_model": {f"{loader} / {b}": round(rate["images_per_s"] / m["images_per_s"], 2)
                                    for loader, rate in loaders.items() for b, m in models.items()}}
    write_result("loader", record)


if __name__ == "__main__":
    main()
