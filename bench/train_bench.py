"""Fine-tuning throughput: images/s of a training epoch (data loading included).

Baseline: a plain loop like the report's - batch 4, no loader workers, fp32, Adam, the same
freeze depth and augmentation. Product: VanGoghDataModule + VanGoghClassifier + Lightning Trainer
with the default config (batch 16, workers=auto, JPEG draft decoding), optionally bf16/channels_last/
torch.compile on GPU. Data: generated JPEG paintings on disk at WikiArt-like sizes.

    .venv/bin/python bench/train_bench.py --backbone alexnet --images 256
    .venv/bin/python bench/train_bench.py --backbone vgg19 --images 128 --device cuda --precision bf16-mixed

With --epochs N the figures are the last epoch's (loader workers started, kernels compiled); the
first epoch's rate is recorded beside them.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import lightning as L
import pandas as pd
import torch
from torch.utils.data import DataLoader

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.common import OUT, device_name, write_result  # noqa: E402
from vangogh_lightning.data.datamodule import IndexedImages, VanGoghDataModule, resolve_num_workers  # noqa: E402
from vangogh_lightning.data.synthetic import render_synthetic  # noqa: E402
from vangogh_lightning.data.transforms import train_transform  # noqa: E402
from vangogh_lightning.models.classifier import VanGoghClassifier  # noqa: E402

COLUMNS = ["filename", "artist", "genre", "description", "phash", "width", "height", "genre_count", "subset"]


def make_dataset(root: Path, count: int, side: int) -> Path:
    """``count`` JPEGs (longest side ``side``) in the WikiArt layout; returns classes.csv."""
    rows = []
    for i in range(count):
        label = i % 2
        img = render_synthetic(seed=i, label=label, size=256).resize((side, side * 3 // 4))
        artist = "vincent van gogh" if label else "paul gauguin"
        name = f"Post_Impressionism/{artist.replace(' ', '-')}_{i}.jpg"
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        img.save(root / name, quality=90)
        rows.append({"filename": name, "artist": artist, "phash": f"{i:x}"})
    csv = root / "classes.csv"
    pd.DataFrame(rows, columns=COLUMNS).to_csv(csv, index=False)
    return csv


def baseline_epochs(frame: pd.DataFrame, backbone: str, device: torch.device, size: int, epochs: int) -> list[float]:
    """The report's loop: batch 4, no workers, fp32. Returns seconds of each epoch."""
    torch.manual_seed(0)
    model = VanGoghClassifier(backbone=backbone, pretrained=False).to(device).train()
    ds = IndexedImages(frame, train_transform(size))  # full-resolution decode, as the report did
    loader = DataLoader(ds, batch_size=4, shuffle=True, num_workers=0)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-5)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    seconds = []
    for _ in range(epochs):
        t0 = time.perf_counter()
        for images, labels in loader:
            images, labels = images.to(device), labels.to(device)
            loss = loss_fn(model(images), labels)
            opt.zero_grad()
            loss.backward()
            opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds.append(time.perf_counter() - t0)
    return seconds


class _EpochTimer(L.Callback):
    def __init__(self):
        self.seconds: list[float] = []

    def on_train_epoch_start(self, trainer, module):
        self.t0 = time.perf_counter()

    def on_train_epoch_end(self, trainer, module):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        self.seconds.append(time.perf_counter() - self.t0)


def product_epochs(root: Path, csv: Path, backbone: str, device: torch.device, size: int,
                   args: argparse.Namespace) -> tuple[list[float], int]:
    """The product with the default config. Returns (seconds of each epoch, training images)."""
    torch.manual_seed(0)
    dm = VanGoghDataModule(source="wikiart", image_root=str(root), csv_path=str(csv), num_folds=5, fold=0,
                           image_size=size, batch_size=args.batch_size, num_workers=args.workers)
    _ = dm.index  # validation of the index happens once before training; not part of the epoch
    model = VanGoghClassifier(backbone=backbone, pretrained=False, channels_last=args.channels_last)
    if args.compile:
        model.net.compile()
    timer = _EpochTimer()
    trainer = L.Trainer(max_epochs=args.epochs, accelerator="gpu" if device.type == "cuda" else "cpu", devices=1,
                        precision=args.precision, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0,
                        num_sanity_val_steps=0, callbacks=[timer])
    trainer.fit(model, datamodule=dm)
    return timer.seconds, len(dm.train_set)


def rate(n: int, seconds: list[float]) -> dict:
    """Images/s of the last epoch (steady state: workers started, kernels compiled) and of the first."""
    return {"epoch_seconds": [round(x, 2) for x in seconds],
            "images_per_second": round(n / seconds[-1], 2),
            "images_per_second_first_epoch": round(n / seconds[0], 2)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backbone", default="alexnet")
    ap.add_argument("--images", type=int, default=256)
    ap.add_argument("--side", type=int, default=1024, help="longest side of the generated JPEGs")
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--workers", type=lambda v: v if v == "auto" else int(v), default="auto",
                    help="loader workers: auto (the product default) or a number")
    ap.add_argument("--precision", default="32-true")
    ap.add_argument("--channels-last", action="store_true")
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--epochs", type=int, default=1, help="figures are the last epoch's")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--dataset-dir", type=Path, default=None,
                    help="keep the generated JPEGs here and reuse them on the next run (default: a temp folder)")
    ap.add_argument("--reuse-baseline", action="store_true", help="reuse the baseline from bench/out/cache")
    args = ap.parse_args()
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if args.device == "auto" else args.device))
    with tempfile.TemporaryDirectory() as tmp:
        root = args.dataset_dir or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        csv, marker = root / "classes.csv", root / "bench-dataset.json"
        wanted = {"images": args.images, "side": args.side}
        if not (csv.is_file() and marker.is_file() and json.loads(marker.read_text()) == wanted):
            csv = make_dataset(root, args.images, args.side)
            marker.write_text(json.dumps(wanted))
        seconds, n_train = product_epochs(root, csv, args.backbone, device, args.size, args)
        cache = OUT / "cache" / (f"train-baseline-{device.type}-{args.backbone}-{args.images}-{args.side}"
                                 f"-{args.size}-{args.epochs}.json")
        reused = args.reuse_baseline and cache.is_file()
        if reused:
            base = json.loads(cache.read_text())
        else:
            dm = VanGoghDataModule(source="wikiart", image_root=str(root), csv_path=str(csv), num_folds=5)
            train_rows, _ = dm.split(0)
            base = baseline_epochs(train_rows, args.backbone, device, args.size, args.epochs)
            cache.parent.mkdir(parents=True, exist_ok=True)
            cache.write_text(json.dumps(base))
    record = {
        "benchmark": "train", "device": device_name(device), "torch": torch.__version__,
        "backbone": args.backbone, "train_images": n_train, "image_size": args.size,
        "source_side": args.side, "epochs": args.epochs,
        "product": {"batch_size": args.batch_size, "workers": args.workers,
                    "workers_resolved": resolve_num_workers(args.workers), "precision": args.precision,
                    "channels_last": args.channels_last, "compile": args.compile, **rate(n_train, seconds)},
        "baseline": {"batch_size": 4, "workers": 0, "precision": "32-true", "reused": reused,
                     **rate(n_train, base)},
        "speedup": round(base[-1] / seconds[-1], 2),
    }
    write_result(f"train-{args.backbone}-{device.type}", record)


if __name__ == "__main__":
    main()
