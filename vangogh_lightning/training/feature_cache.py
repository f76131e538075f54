"""The callback that puts ``data.feature_cache`` between the data module and the classifier: it reads where the
classifier's frozen prefix ends, stores that prefix's output per image and view (:mod:`data.feature_cache`), has
the data module serve those features, and the classifier start after the prefix."""

from __future__ import annotations

import functools
import math
import os
import shutil
import time
from pathlib import Path

import lightning as L
import torch
from torch.utils.data import DataLoader

from vangogh_lightning.core.console import rank_zero_print
from vangogh_lightning.core.errors import UserError
from vangogh_lightning.data.caches import cache_home
from vangogh_lightning.data.datamodule import ImageViews, IndexedImages, resolve_num_workers, worker_init
from vangogh_lightning.data.feature_cache import (
    VALIDATION_VIEW,
    CachedFeatures,
    EpochViews,
    FeatureStore,
    image_identity,
    prefix_depth,
    view_seed,
    weights_digest,
)


class FrozenFeatureCache(L.Callback):
    """At the start of a fit: when ``data.feature_cache`` is on and the classifier's first ``features`` modules are
    frozen, validation reads their stored output (computed now where missing) and each training epoch the view it
    draws (computed when the epoch starts, where missing)."""

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        datamodule = trainer.datamodule
        hp = datamodule.hparams
        features = pl_module.net.features
        depth = prefix_depth(features)
        if not hp.feature_cache or depth == 0:
            return
        # Several processes would each fill the whole cache (not measured, so not offered); overfit_batches swaps
        # every sampler for a sequential one, which would read view 0 only.
        why = ("several processes (DDP)" if trainer.world_size > 1 else
               f"trainer.overfit_batches={trainer.overfit_batches}" if trainer.overfit_batches else None)
        if why:
            rank_zero_print(f"note: data.feature_cache is off with {why}; the frozen layers run every epoch; set "
                            "data.feature_cache=false to silence this", flush=True)
            return
        views = hp.feature_cache_views or trainer.max_epochs
        if views is None or views < 1:
            raise UserError(f"data.feature_cache_views is not set and trainer.max_epochs={trainer.max_epochs} gives "
                            "no number of views; set data.feature_cache_views=<views per training image>")
        self.trainer, self.prefix, self.views = trainer, features[:depth], views
        self.device, self.seed = pl_module.device, hp.feature_cache_seed
        self.dtype = next(self.prefix.parameters()).dtype  # (a "-true" precision: the images must match the weights)
        self.train_images, self.val_images = datamodule.train_set, datamodule.val_set
        with torch.no_grad(), trainer.precision_plugin.forward_context():
            probe = torch.zeros(1, 3, hp.image_size, hp.image_size, device=self.device, dtype=self.dtype)
            shape = tuple(self.prefix(probe).shape[1:])
        folder = cache_home() / "features" if hp.feature_cache is True else Path(hp.feature_cache)
        self.store = store = FeatureStore(folder, {
            "backbone": pl_module.hparams.backbone, "depth": depth, "weights": weights_digest(self.prefix),
            "precision": str(trainer.precision), "image_size": hp.image_size,
            "train_transform": repr(self.train_images.transform), "eval_transform": repr(self.val_images.transform),
            "decoding": datamodule.decoding(), "render_size": hp.synthetic_render_size}, shape)
        if problem := store.problem():
            rank_zero_print(f"note: data.feature_cache={hp.feature_cache}: {store.folder} cannot be written "
                            f"({problem}); the frozen layers run every epoch; set data.feature_cache=<a writable "
                            "folder> to keep features, or data.feature_cache=false to silence this", flush=True)
            return
        store.describe_once()
        val_rows, train_rows = self.val_images.frame, self.train_images.frame
        val_paths = [[store.entry(image_identity(row), VALIDATION_VIEW, None)] for _, row in val_rows.iterrows()]
        self.train_seeds = [[view_seed(row, v, self.seed) for v in range(views)] for _, row in train_rows.iterrows()]
        self.train_paths = [[store.entry(image_identity(row), v, seed) for v, seed in enumerate(seeds)]
                            for (_, row), seeds in zip(train_rows.iterrows(), self.train_seeds)]
        read = self._reads(len(val_paths), trainer.limit_val_batches)
        self._compute(self.val_images, [(i, None, p[0]) for i, p in enumerate(val_paths[:read])], "validation")
        self.room_checked = False  # (when the first epoch of this fit draws its order)
        sampler = EpochViews(len(train_rows), views, epoch=self._epoch,
                             reads=lambda: self._reads(len(self.train_paths), trainer.limit_train_batches),
                             prepare=self._prepare)
        datamodule.serve_features(CachedFeatures(self.train_paths, train_rows["label"], shape),
                                  CachedFeatures(val_paths, val_rows["label"], shape), sampler)
        pl_module.input_depth = depth
        count, size = store.usage()
        rank_zero_print(f"feature cache: {store.folder} ({count} entries, {size / 1e6:.0f} MB): the first {depth} "
                        f"of {len(features)} feature modules are frozen and run once per image and view; "
                        f"{views} views per training image (epoch e reads view e mod {views}); "
                        "data.feature_cache=false runs them every epoch", flush=True)

    def _epoch(self) -> int:
        """The epoch an order is drawn for: Lightning draws a resumed epoch's order (with loader workers) before it
        moves current_epoch past the epoch its checkpoint ended; processed counts that epoch already."""
        return self.trainer.fit_loop.epoch_progress.current.processed

    def _check_room(self, reads: int) -> None:
        """Refuse, when a fit draws its first epoch's order and before it trains, a fit whose missing training
        entries (the views its remaining epochs draw, if it does not stop early) would not fit on the cache's disk:
        it would stop midway. (Not at fit start: a resumed fit's epoch is restored after on_fit_start.)"""
        store, last, views = self.store, self.trainer.max_epochs, self.views
        epochs = range(self._epoch(), last if last is not None and last >= 0 else self._epoch() + views)
        drawn = sorted({epoch % views for epoch in epochs})
        missing = []
        for view in drawn:
            missing += [paths[view] for paths in self.train_paths if not store.stored(paths[view])][:reads]
        block = os.statvfs(store.folder).f_frsize  # what a file takes is whole blocks; a new subfolder one more
        need = (len(missing) * math.ceil(min(store.sizes) / block)
                + sum(not folder.is_dir() for folder in {path.parent for path in missing})) * block
        free = shutil.disk_usage(store.folder).free
        if need > free:
            raise UserError(f"data.feature_cache: {store.folder} needs {need / 1e6:,.1f} MB more ({len(missing)} "
                            f"entries: {len(self.train_paths)} training images x {len(drawn)} views this fit draws), "
                            f"{free / 1e6:,.1f} MB are free there; free some space, or set data.feature_cache=<a "
                            "folder with room>, a smaller data.feature_cache_views, or data.feature_cache=false")

    def _reads(self, count: int, limit: int | float) -> int:
        """How many of ``count`` images in order a pass reads (all, unless the trainer limits its batches)."""
        batch = self.trainer.datamodule.hparams.batch_size
        if isinstance(limit, int):
            return min(count, limit * batch)
        return min(count, math.ceil(count * float(limit)) + batch)

    def _prepare(self, images: list[int], view: int) -> None:
        """Store ``view`` of the training ``images`` where it is missing."""
        if not self.room_checked:
            self.room_checked = True
            self._check_room(len(images))
        todo = [(i, self.train_seeds[i][view], self.train_paths[i][view]) for i in images]
        self._compute(self.train_images, todo, f"view {view} of the training")

    def _compute(self, images: IndexedImages, todo: list[tuple[int, int | None, Path]], what: str) -> None:
        """Run the frozen prefix over the (image, seed, entry) of ``todo`` whose entry is missing, and store them."""
        missing = [(i, seed, path) for i, seed, path in todo if not self.store.stored(path)]
        if not missing:
            return
        hp, start = self.trainer.datamodule.hparams, time.perf_counter()
        workers = resolve_num_workers(hp.num_workers)
        loader = DataLoader(ImageViews(images, [(i, seed) for i, seed, _ in missing]), batch_size=hp.batch_size,
                            num_workers=workers, worker_init_fn=functools.partial(worker_init, rank=0),
                            generator=torch.Generator())  # (its own: the run's random stream stays as it was)
        paths = iter(path for _, _, path in missing)
        with torch.no_grad(), self.trainer.precision_plugin.forward_context():
            for batch in loader:
                for features in self.prefix(batch.to(self.device, self.dtype)):
                    self.store.write(next(paths), features)
        rank_zero_print(f"feature cache: {what} images: {len(missing)} of {len(todo)} computed in "
                        f"{time.perf_counter() - start:.1f} s", flush=True)
