"""LightningDataModule that owns the index, the K folds, the augmentation and the Dataset over the index."""

from __future__ import annotations

import atexit
import functools
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import pandas as pd
import torch
from lightning.pytorch.overrides.distributed import UnrepeatedDistributedSampler
from PIL import Image
from torch.utils.data import DataLoader, Dataset, Sampler

from vangogh_lightning.config.schema import Source, Split, choices
from vangogh_lightning.core.errors import UserError
from vangogh_lightning.core.images import load_rgb
from vangogh_lightning.data.caches import InputCache, ValidationCache, cache_home, default_cache_file
from vangogh_lightning.data.folds import check_fold, held_out_test, shuffled_kfold, stratified_folds
from vangogh_lightning.data.index import read_painting_folder, read_wikiart_csv, validate_index
from vangogh_lightning.data.record import difference, make_record
from vangogh_lightning.data.synthetic import render_synthetic, synthetic_index
from vangogh_lightning.data.transforms import eval_transform, train_transform

log = logging.getLogger(__name__)

MAX_AUTO_WORKERS = 8  # enough to feed a GPU fine-tuning AlexNet (bench/RESULTS.md)


def usable_cpus() -> int:
    """CPU cores this process may run on (respects taskset/cgroup affinity where the OS reports it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def resolve_num_workers(setting: int | str, processes_per_node: int = 1) -> int:
    """Loader workers: an integer >= 0 as given, or 'auto' = this process's share of the cores, at most 8."""
    if setting == "auto":
        return min(MAX_AUTO_WORKERS, usable_cpus() // max(1, processes_per_node))
    if isinstance(setting, bool) or not isinstance(setting, int) or setting < 0:
        raise UserError(f"data.num_workers={setting}: must be 'auto' or an integer >= 0")
    return setting


class IndexedImages(Dataset):
    """Images named by an index table (``path`` or synthetic ``seed``) with their 0/1 labels; files are
    read through ``cache`` (decoded once, see :mod:`caches`) when one is given."""

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

    def image(self, idx: int) -> Image.Image:
        """The decoded (or generated) image of row ``idx``, before any transform."""
        row = self.frame.iloc[idx]
        if row["path"] is None:
            return render_synthetic(int(row["seed"]), int(row["label"]), self.render_size)
        if self.cache is not None:
            return self.cache.load(row["path"])
        return load_rgb(row["path"], max_side=self.max_side, max_pixels=self.max_pixels)

    def view(self, idx: int, seed: int | None) -> torch.Tensor:
        """Row ``idx`` transformed, its random choices drawn from ``seed`` (None: the process's random stream)."""
        if seed is None:
            return self.transform(self.image(idx))
        with torch.random.fork_rng(devices=[]):  # (CPU only: the transforms draw from it; CUDA's stream is untouched)
            torch.random.default_generator.manual_seed(seed)
            return self.transform(self.image(idx))

    def __getitem__(self, idx: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.view(idx, None), torch.tensor(float(self.frame.iloc[idx]["label"]))


class ImageViews(Dataset):
    """Views of ``images``, one per (row, seed) of ``items`` (seed None: the deterministic transform's)."""

    def __init__(self, images: IndexedImages, items: list[tuple[int, int | None]]):
        self.images, self.items = images, items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, k: int) -> torch.Tensor:
        return self.images.view(*self.items[k])


@functools.cache
def end_workers_at_exit() -> None:
    """At exit, end the loader workers still alive at once (they ignore SIGTERM, with which multiprocessing would
    end them and then wait for them forever)."""
    import multiprocessing

    atexit.register(lambda: [child.kill() for child in multiprocessing.active_children() if child.daemon])


def worker_init(worker_id: int, rank: int) -> None:
    """A loader worker leaves the stop signals to the main process (a cluster or Ctrl-C signals the whole process
    group: the main process saves and stops after its batch, and needs its workers until then), and is seeded as
    Lightning seeds workers (``seed_everything(workers=True)``)."""
    import signal

    from lightning.fabric.utilities.seed import pl_worker_init_function

    for stop in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1):
        signal.signal(stop, signal.SIG_IGN)
    if int(os.environ.get("PL_SEED_WORKERS", 0)):
        pl_worker_init_function(worker_id, rank=rank)


class VanGoghDataModule(L.LightningDataModule):
    """Binary Van Gogh vs. others data with stratified K-fold splits.

    ``source`` is ``wikiart`` (Kaggle ``classes.csv`` + image root), ``folder``
    (``<root>/<artist-slug>_<title>.jpg``) or ``synthetic`` (generated, no files).
    Folds are 0-based: ``fold=k`` validates on fold k and trains on the others."""

    def __init__(
        self,
        source: Source = "wikiart",
        image_root: str | None = None,
        csv_path: str | None = None,
        styles: list[str] | tuple[str, ...] = ("Post_Impressionism",),
        positive_artist: str = "vincent van gogh",
        on_missing: str = "error",
        drop_duplicates: bool = True,
        num_folds: int = 5,
        fold: int = 0,
        split_seed: int = 42,
        split: Split = "stratified",
        image_size: int = 224,
        batch_size: int = 16,
        num_workers: int | str = "auto",
        pin_memory: bool | None = None,
        persistent_workers: bool = True,
        synthetic_count: int = 200,
        synthetic_positive_share: float = 0.5,
        synthetic_render_size: int = 96,
        max_decode_side: int | None = 512,
        max_image_pixels: int | None = 200_000_000,
        validation_cache: bool | str | None = True,
        test_fraction: float = 0.0,
        input_cache: bool | str = True,
        feature_cache: bool | str = True,
        feature_cache_views: int | None = None,
        feature_cache_seed: int = 42,
    ):
        super().__init__()
        if source not in choices(Source):  # the index builder below dispatches on it
            raise UserError(f"data.source={source}: unknown; choose one of {', '.join(choices(Source))}")
        resolve_num_workers(num_workers)  # a bad setting fails here, not when the first loader is built
        self.save_hyperparameters(logger=False)
        self.fold = fold
        self._index: pd.DataFrame | None = None
        self._listed_rows = 0  # rows the source listed, before validation dropped any
        self._folds: np.ndarray | None = None
        self._test_index: pd.DataFrame | None = None  # rows held out from every fold (data.test_fraction)
        self._cache: InputCache | None = None
        self._cache_refused = False
        self.train_set: Dataset | None = None
        self.val_set: Dataset | None = None
        self.train_sampler: Sampler | None = None  # (data.feature_cache's, drawing each epoch's views)

    @property
    def fold(self) -> int:
        """The validation fold; kept in ``hparams`` so each fold's checkpoint records its own fold."""
        return self.hparams.fold

    @fold.setter
    def fold(self, value: int) -> None:
        self.hparams.fold = value

    # ----- index and folds -------------------------------------------------------------
    @property
    def index(self) -> pd.DataFrame:
        """The validated index (built once, then cached)."""
        if self._index is None:
            index = self._build_index()
            hp = self.hparams
            groups = index["group"].to_numpy() if "group" in index else None
            if hp.test_fraction > 0:
                held = held_out_test(index["label"].to_numpy(), hp.test_fraction, hp.split_seed, groups)
                self._test_index, index = index[held], index[~held]
                groups = None if groups is None else groups[~held]
            if hp.split == "kfold":
                self._folds = shuffled_kfold(index["row"].to_numpy(), self._listed_rows, hp.num_folds, hp.split_seed)
            else:
                self._folds = stratified_folds(index["label"].to_numpy(), hp.num_folds, hp.split_seed, groups)
            self._index = index
        return self._index

    def _build_index(self) -> pd.DataFrame:
        hp = self.hparams
        if hp.source == "synthetic":
            frame = synthetic_index(hp.synthetic_count, hp.synthetic_positive_share, hp.split_seed)
        elif hp.image_root is None:
            raise UserError(f"data.image_root is not set; data.source={hp.source} needs an image folder")
        elif hp.source == "folder":
            frame = read_painting_folder(hp.image_root, hp.positive_artist)
        elif hp.csv_path is None:
            raise UserError("data.csv_path is not set; point it at WikiArt's classes.csv")
        else:
            frame = read_wikiart_csv(hp.csv_path, hp.image_root, list(hp.styles), hp.positive_artist)
        frame["row"] = np.arange(len(frame))  # position in the source list (the report's KFold permutes these)
        self._listed_rows = len(frame)
        if hp.source == "synthetic":
            return frame
        cache = None
        if hp.validation_cache:
            path = default_cache_file(hp.image_root) if hp.validation_cache is True else Path(hp.validation_cache)
            cache = ValidationCache(path)
        clean, report = validate_index(frame, hp.on_missing, hp.drop_duplicates, hp.max_image_pixels, cache)
        print(report.summary())
        return clean

    def fold_of_each_sample(self) -> np.ndarray:
        """Fold number of every row of :attr:`index`."""
        _ = self.index
        assert self._folds is not None
        return self._folds

    def split(self, fold: int) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(train, validation) rows for a 0-based fold."""
        check_fold(fold, self.hparams.num_folds)
        folds = self.fold_of_each_sample()
        train, val = self.index[folds != fold], self.index[folds == fold]
        for name, part in (("training", train), ("validation", val)):
            if part["label"].nunique() < 2:
                raise UserError(f"fold={fold}: the {name} split has only one class; add images or lower data.num_folds")
        return train, val

    def record(self) -> dict[str, list]:
        """Every image this data module serves, with its content digest, label and split (see :mod:`record`)."""
        return make_record(self.index, self.fold_of_each_sample(), self._test_index)

    def state_dict(self) -> dict[str, Any]:
        """What Lightning stores in each checkpoint for this data module: the data record."""
        return {"data_record": self.record()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """A resumed fit goes on with the data it began with, or stops naming the first difference."""
        change = difference(state_dict["data_record"], self.record()) if "data_record" in state_dict else None
        if change:
            raise UserError(f"ckpt_path: the data changed since this run began ({change}); resuming would mix two "
                            "data sets in one model; restore the files, or start a new run (a new hydra.run.dir)")

    def positive_weight(self) -> float:
        """negatives / positives in the training split (for ``BCEWithLogitsLoss(pos_weight)``)."""
        train, _ = self.split(self.fold)
        pos = int(train["label"].sum())
        return (len(train) - pos) / pos

    # ----- Lightning hooks -------------------------------------------------------------
    def input_cache(self) -> InputCache | None:
        """The decoded-input cache of ``data.input_cache`` (None: off, generated data with no files, or a
        folder that cannot be written: the run then decodes every epoch, and says so once)."""
        hp = self.hparams
        if not hp.input_cache or hp.source == "synthetic" or self._cache_refused:
            return None
        folder = cache_home() / "inputs" if hp.input_cache is True else Path(hp.input_cache)
        cache = InputCache(folder, hp.image_size, hp.max_decode_side, hp.max_image_pixels)
        problem = cache.problem()
        if problem:
            self._cache_refused = True
            print(f"note: data.input_cache={hp.input_cache}: {cache.folder} cannot be written ({problem}); training "
                  "goes on without the cache, decoding every image every epoch; set data.input_cache=<a writable "
                  "folder> to keep one, or data.input_cache=false to silence this")
            return None
        return cache

    def _images(self, rows: pd.DataFrame, transform) -> IndexedImages:
        hp = self.hparams
        return IndexedImages(rows, transform, render_size=hp.synthetic_render_size, max_side=hp.max_decode_side,
                             max_pixels=hp.max_image_pixels, cache=self._cache)

    def setup(self, stage: str | None = None) -> None:
        hp = self.hparams
        train, val = self.split(self.fold)
        self._cache = self.input_cache()
        if self._cache is not None and stage in (None, "fit"):  # (not again when the fit's trainer predicts)
            print(self._cache.describe())
        self.train_set = self._images(train, train_transform(hp.image_size))
        self.val_set = self._images(val, eval_transform(hp.image_size))
        self.train_sampler = None

    def serve_features(self, train: Dataset, val: Dataset, train_sampler: Sampler) -> None:
        """Serve ``train`` (in the order and views ``train_sampler`` draws) and ``val`` until the next setup."""
        self.train_set, self.val_set, self.train_sampler = train, val, train_sampler

    def decoding(self) -> dict[str, Any]:
        """The settings that decide the pixels an image file decodes to (for the keys of later caches)."""
        cache = self._cache
        return {"max_decode_side": self.hparams.max_decode_side,
                "input_cache_short_side": cache.short_side if cache is not None else None}

    def _loader(self, dataset: Dataset, train: bool) -> DataLoader:
        hp = self.hparams
        pin = torch.cuda.is_available() if hp.pin_memory is None else hp.pin_memory
        trainer, sampler = self.trainer, self.train_sampler if train else None
        workers = resolve_num_workers(hp.num_workers, trainer.num_devices if trainer is not None else 1)
        if not train and trainer is not None and trainer.world_size > 1:
            # Lightning's default DistributedSampler pads with repeats; validate each image once.
            sampler = UnrepeatedDistributedSampler(dataset, num_replicas=trainer.world_size,
                                                   rank=trainer.global_rank, shuffle=False)
        if workers:
            end_workers_at_exit()
        return DataLoader(dataset, batch_size=hp.batch_size, shuffle=train and sampler is None, sampler=sampler,
                          drop_last=train and len(dataset) > hp.batch_size, num_workers=workers, pin_memory=pin,
                          persistent_workers=hp.persistent_workers and workers > 0,
                          worker_init_fn=functools.partial(worker_init, rank=trainer.global_rank if trainer else 0))

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, train=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, train=False)

    def describe(self) -> str:
        """One line about the current fold's split."""
        train, val = self.split(self.fold)
        held = f"; {len(self._test_index)} held out for testing" if self._test_index is not None else ""
        return (f"fold {self.fold} (of folds 0-{self.hparams.num_folds - 1}){held}: {len(train)} train "
                f"({int(train['label'].sum())} positive), {len(val)} val ({int(val['label'].sum())} positive)")

