"""What ``data.feature_cache`` saves: images/s of a training epoch and of validation with the cache off, cold
(first run: the frozen prefix runs and its output is stored) and warm (every entry stored), side by side in one
process, for VGG-19 and AlexNet at the default freeze depth (``model.trainable_feature_modules=6``).

The product path throughout (VanGoghDataModule, VanGoghClassifier, Lightning Trainer: batch 16, loader workers
auto, the input cache warm for all three), random weights, on generated JPEGs in WikiArt's layout. Each figure is
the second epoch's (loader workers started), and its steady rate: a batch over the median time from one batch's
end to the next (a small run's epoch is dominated by what an epoch costs once: the first optimiser step after
validation, starting and ending validation; an epoch at the report's scale has 315 steps). The ceiling: a bare
loop of random batches through the whole network and through its trainable rest. Also measured: how fast the cache is
filled (images/s through the prefix, stored), the disk per entry, and the largest difference of a validation
probability between the cached and the whole network (same weights). From these rates, the cost of a
5-fold x 10-trial search at the report's scale (6,307 paintings, 13 epochs), before and after: scaled, not run.

    .venv/bin/python bench/feature_cache_bench.py                       # both backbones, 192 images
    .venv/bin/python bench/feature_cache_bench.py --backbones alexnet --images 48
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import lightning as L
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.common import device_name, write_result  # noqa: E402
from bench.train_bench import make_dataset  # noqa: E402
from vangogh_lightning.data.datamodule import VanGoghDataModule, resolve_num_workers  # noqa: E402
from vangogh_lightning.data.feature_cache import CachedFeatures, prefix_depth  # noqa: E402
from vangogh_lightning.models.classifier import VanGoghClassifier  # noqa: E402
from vangogh_lightning.training.feature_cache import FrozenFeatureCache  # noqa: E402

REPORT = {"paintings": 6307, "folds": 5, "epochs": 13, "trials": 10}


class Gaps(list):
    """Seconds between successive :meth:`tick` calls since :meth:`start`: from one batch's end to the next's."""

    def start(self) -> None:
        self.last = None

    def tick(self) -> None:
        now = time.perf_counter()
        if self.last is not None:
            self.append(now - self.last)
        self.last = now


class Phases(L.Callback):
    """Seconds of each epoch's training part and of its validation, and the gaps between their batches."""

    def __init__(self):
        self.train: list[float] = []
        self.val: list[float] = []
        self.steps, self.val_steps = Gaps(), Gaps()  # within an epoch's training / validation

    def on_train_epoch_start(self, trainer, module):
        self.t0 = time.perf_counter()
        self.steps.start()

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        self.steps.tick()

    def on_validation_start(self, trainer, module):
        self.train.append(time.perf_counter() - self.t0)
        self.v0 = time.perf_counter()
        self.val_steps.start()

    def on_validation_batch_end(self, trainer, module, outputs, batch, batch_idx, dataloader_idx=0):
        self.val_steps.tick()

    def on_validation_end(self, trainer, module):
        self.val.append(time.perf_counter() - self.v0)


def run(root: Path, csv: Path, backbone: str, cache: Path | bool, args) -> dict:
    """Two epochs of fold 0; the second epoch's rates, and the cache's fill time (cold runs)."""
    torch.manual_seed(0)
    dm = VanGoghDataModule(source="wikiart", image_root=str(root), csv_path=str(csv), num_folds=args.folds,
                           image_size=args.size, batch_size=16, num_workers="auto", feature_cache_views=2,
                           feature_cache=str(cache) if cache else False)
    model = VanGoghClassifier(backbone=backbone, pretrained=False)
    phases = Phases()
    trainer = L.Trainer(max_epochs=2, accelerator=args.accelerator, precision=args.precision, logger=False,
                        enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
                        callbacks=[FrozenFeatureCache(), phases])
    start = time.perf_counter()
    trainer.fit(model, datamodule=dm)
    n_train, n_val = len(dm.train_set), len(dm.val_set)
    result = {"seconds": round(time.perf_counter() - start, 2), "train_images": n_train, "val_images": n_val,
              "train_seconds": [round(s, 2) for s in phases.train], "val_seconds": [round(s, 2) for s in phases.val],
              "train_images_per_s": round(n_train / phases.train[-1], 2),
              "val_images_per_s": round(n_val / phases.val[-1], 2),
              "epoch_images_per_s": round(n_train / (phases.train[-1] + phases.val[-1]), 2),
              # a step's images over its median time: what a 315-step epoch of the report's scale runs at (the
              # first step of an epoch costs more: the first Adam step, and after validation; measured 1-3 s)
              "steady_train_images_per_s": round(dm.hparams.batch_size / statistics.median(phases.steps), 2),
              "steady_val_images_per_s": round(dm.hparams.batch_size / statistics.median(phases.val_steps), 2)}
    if isinstance(dm.val_set, CachedFeatures):
        model.eval().cpu().float()
        with torch.no_grad():
            cached = torch.sigmoid(model(torch.stack([dm.val_set[i][0] for i in range(n_val)])))
            model.input_depth = 0
            dm.setup("fit")
            whole = torch.sigmoid(model(torch.stack([dm.val_set[i][0] for i in range(n_val)])))
        result["max_probability_difference"] = float((cached - whole).abs().max())
        entry = next(Path(cache).glob("*/*/*.npy"))
        result["bytes_per_entry"] = entry.stat().st_size
    return result


def ceiling(backbone: str, size: int, device: torch.device, repeats: int = 3) -> dict:
    """Images/s of a bare loop (no data loading, no Lightning): random batches of 16 through the whole network
    and through its trainable rest only, with Adam: how far a cache can go here."""
    torch.manual_seed(0)
    model = VanGoghClassifier(backbone=backbone, pretrained=False).to(device)
    depth = prefix_depth(model.net.features)
    images = torch.randn(16, 3, size, size, device=device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    with torch.no_grad():
        features = model.net.features[:depth](images).half()
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-5)
    rates = {}
    for name, start, batch in (("whole", 0, images), ("rest", depth, features)):
        model.input_depth = start

        def step(batch=batch):
            optimizer.zero_grad()
            model.loss_fn(model(batch), torch.ones(16, device=device)).backward()
            optimizer.step()

        step()
        sync()
        t0 = time.perf_counter()
        for _ in range(repeats):
            step()
        sync()
        rates[f"{name}_train_images_per_s"] = round(16 * repeats / (time.perf_counter() - t0), 2)
        with torch.no_grad():
            model(batch)
            sync()
            t0 = time.perf_counter()
            for _ in range(repeats):
                model(batch)
            sync()
        rates[f"{name}_val_images_per_s"] = round(16 * repeats / (time.perf_counter() - t0), 2)
    return {**rates, "train_ratio": round(rates["rest_train_images_per_s"] / rates["whole_train_images_per_s"], 2),
            "val_ratio": round(rates["rest_val_images_per_s"] / rates["whole_val_images_per_s"], 2)}


def epoch_seconds(r: dict) -> float:
    """Seconds of one fold's epoch (training and validation) at the report's scale, at ``r``'s rates."""
    n, folds = REPORT["paintings"], REPORT["folds"]
    return n * (folds - 1) / folds / r["steady_train_images_per_s"] + n / folds / r["steady_val_images_per_s"]


def search_cost(off: dict, cold: dict, warm: dict) -> dict:
    """Hours of a 5-fold x 10-trial search at the report's scale, from the measured per-image seconds."""
    n, folds, epochs, trials = REPORT["paintings"], REPORT["folds"], REPORT["epochs"], REPORT["trials"]

    # Filling: every painting once per view (13) and once validated; cold seconds beyond warm's are the filling.
    fill_rate = (cold["train_images"] * 2 + cold["val_images"]) / max(1e-9, cold["seconds"] - warm["seconds"])
    fill = n * (epochs + 1) / fill_rate
    before = trials * folds * epochs * epoch_seconds(off)
    after = fill + trials * folds * epochs * epoch_seconds(warm)
    return {"before_hours": round(before / 3600, 1), "after_hours": round(after / 3600, 1),
            "filling_hours": round(fill / 3600, 2), "fill_images_per_s": round(fill_rate, 2),
            "ratio": round(before / after, 2),
            "how": ("per-image seconds of this run's steady training and validation steps, scaled to 6,307 "
                   "paintings x 5 folds x 13 epochs x 10 trials; filling: the cold run's extra seconds per stored "
                   "entry, x 6,307 x (13 views + 1)")}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backbones", nargs="+", default=["vgg19", "alexnet"])
    ap.add_argument("--images", type=int, default=192)
    ap.add_argument("--folds", type=int, default=3, help="fold 0 validates a third of the images by default")
    ap.add_argument("--side", type=int, default=512, help="longest side of the generated JPEGs")
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument("--precision", default="32-true", help="the trainer's (e.g. bf16-mixed on a GPU)")
    args = ap.parse_args()
    device = torch.device(args.device)
    args.accelerator = "gpu" if device.type == "cuda" else "cpu"
    record = {"benchmark": "feature_cache", "device": device_name(device), "torch": torch.__version__,
              "precision": args.precision,
              "workers": resolve_num_workers("auto"), "image_size": args.size, "images": args.images,
              "folds": args.folds, "backbones": {}}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        os.environ["XDG_CACHE_HOME"] = str(tmp / "xdg")  # the input cache: warmed by the first run, for all
        csv = make_dataset(tmp / "data", args.images, args.side)
        for backbone in args.backbones:
            folder = tmp / f"features-{backbone}"
            off = run(tmp / "data", csv, backbone, False, args)
            cold = run(tmp / "data", csv, backbone, folder, args)
            warm = run(tmp / "data", csv, backbone, folder, args)
            off_again = run(tmp / "data", csv, backbone, False, args)  # a busy minute hits both sides
            best_off = max((off, off_again), key=lambda r: r["steady_train_images_per_s"])
            record["backbones"][backbone] = {
                "off": off, "off_again": off_again, "cold": cold, "warm": warm,
                "warm_over_off": {k: round(warm[k] / best_off[k], 2)
                                  for k in ("train_images_per_s", "steady_train_images_per_s", "val_images_per_s",
                                            "steady_val_images_per_s", "epoch_images_per_s")},
                "warm_over_off_steady_epoch": round(epoch_seconds(best_off) / epoch_seconds(warm), 2),
                "cold_over_off_epoch": round(cold["epoch_images_per_s"] / best_off["epoch_images_per_s"], 2),
                "search": search_cost(best_off, cold, warm), "ceiling": ceiling(backbone, args.size, device)}
    write_result("feature-cache", record)


if __name__ == "__main__":
    main()
