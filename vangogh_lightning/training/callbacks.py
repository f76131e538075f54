"""The callbacks of one fold's fit (the configured ones and the RNG state) and its checkpoint I/O."""

from __future__ import annotations

import contextlib
import os
import random
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from hydra.utils import instantiate
from lightning.pytorch.callbacks import ModelCheckpoint, ModelSummary, RichProgressBar, TQDMProgressBar
from lightning.pytorch.callbacks.model_summary import log as summary_log
from lightning.pytorch.plugins.io import TorchCheckpointIO
from lightning.pytorch.utilities.imports import _RICH_AVAILABLE
from lightning.pytorch.utilities.model_summary.model_summary import _format_summary_table
from omegaconf import DictConfig

from vangogh_lightning.core.atomic import atomic_write
from vangogh_lightning.training.feature_cache import FrozenFeatureCache

# The callback entries (conf/callbacks/default.yaml) whose files a `checkpoints.*` setting drops.
BEST_CHECKPOINT, RESUME_CHECKPOINT = "model_checkpoint", "last_checkpoint"


class RngStateCallback(L.Callback):
    """Saves Python, NumPy and torch (CPU and CUDA) RNG states in every checkpoint and restores them, so
    ``ckpt_path=last`` reproduces an uninterrupted run (Lightning's ``_collect_rng_states`` is private)."""

    def state_dict(self) -> dict[str, Any]:
        name, keys, pos, has_gauss, cached = np.random.get_state()
        # Plain Python values only: Lightning loads checkpoints with torch.load(weights_only=True).
        state = {"python": random.getstate(), "numpy": [name, keys.tolist(), pos, has_gauss, cached],
                 "torch": torch.get_rng_state()}
        if torch.cuda.is_available():
            state["cuda"] = torch.cuda.get_rng_state_all()
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        random.setstate(state_dict["python"])
        name, keys, pos, has_gauss, cached = state_dict["numpy"]
        np.random.set_state((name, np.array(keys, dtype=np.uint32), pos, has_gauss, cached))
        torch.set_rng_state(state_dict["torch"])
        if "cuda" in state_dict and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state_dict["cuda"])


class AtomicCheckpointIO(TorchCheckpointIO):
    """``TorchCheckpointIO`` whose saves are atomic and whose loads never run code from the file."""

    def load_checkpoint(self, path: str | Path, map_location: Any | None = None,
                        weights_only: bool | None = None) -> dict[str, Any]:
        # Resuming reads a user-named file: tensors and plain values only, whatever the caller asks.
        return super().load_checkpoint(path, map_location=map_location, weights_only=True)

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | Path,
                        storage_options: Any | None = None) -> None:
        atomic_write(path, lambda tmp: torch.save(checkpoint, tmp))


class PlainSummary(ModelSummary):
    """Lightning's model summary through the log (also in the job's log file) without its FLOPs: Lightning counts
    them only for a model with an ``example_input_array`` and shows 0 otherwise."""

    @staticmethod
    def summarize(summary_data: list[tuple[str, list[str]]], total_parameters: int, trainable_parameters: int,
                  model_size: float, total_training_modes: dict[str, int], total_flops: int, **kwargs: Any) -> None:
        table = _format_summary_table(total_parameters, trainable_parameters, model_size, total_training_modes, 0,
                                      *[column for column in summary_data if column[0] != "FLOPs"])
        summary_log.info("\n" + table.rsplit("\n", 1)[0])  # (its last line: the FLOPs total)


class ProgressBar(RichProgressBar if _RICH_AVAILABLE else TQDMProgressBar):  # (the one Lightning would choose)
    """Lightning's progress bar without ``v_num``, the logger's version number: the run folder says which run."""

    def get_metrics(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, Any]:
        items = super().get_metrics(trainer, pl_module)
        items.pop("v_num", None)
        return items


class LogInterval(L.Callback):
    """``trainer.log_every_n_steps`` at most the fit's training batches: Lightning warns at every fit of fewer
    batches than the interval (and this model logs per epoch only)."""

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if stage != "fit" or trainer.datamodule is None:
            return
        batches = len(trainer.datamodule.train_dataloader()) // trainer.world_size
        limit = trainer.limit_train_batches
        batches = min(batches, limit) if isinstance(limit, int) else int(batches * limit)
        trainer.log_every_n_steps = max(1, min(trainer.log_every_n_steps, batches))


STOP_SIGNALS = {signal.SIGTERM: "SIGTERM", signal.SIGINT: "Ctrl-C", signal.SIGUSR1: "SIGUSR1"}


class SaveOnStop(L.Callback):
    """How a fit stops when a cluster or Ctrl-C signals the process group (SIGTERM; SIGINT; SIGUSR1, which SLURM
    sends ahead of its kill with ``--signal``): the batch in hand finishes, the interrupted epoch is saved as the
    resume point (``checkpoints/last.ckpt``), then Lightning stops (its own SIGTERM path). A second Ctrl-C stops at
    once. The loader workers ignore these signals (``data.datamodule.worker_init``)."""

    def __init__(self) -> None:
        self.received: int | None = None  # the first stop signal
        self.saved = False

    @contextlib.contextmanager
    def listening(self) -> Iterator[SaveOnStop]:
        """Receive the stop signals while the block runs (Lightning adds its own SIGTERM handler in front)."""
        previous = {s: signal.getsignal(s) for s in STOP_SIGNALS}
        for s in STOP_SIGNALS:
            signal.signal(s, self._receive)
        try:
            yield self
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)

    def _receive(self, signum: int, frame: Any) -> None:
        if self.received is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C: now
        if self.received is None:
            self.received = signum
            if signum != signal.SIGTERM:
                os.kill(os.getpid(), signal.SIGTERM)  # Lightning's stop, after this batch

    def _save(self, trainer: L.Trainer) -> None:
        if trainer.received_sigterm and not self.saved and not trainer.sanity_checking:
            trainer.save_checkpoint(Path(trainer.default_root_dir) / "checkpoints" / "last.ckpt")
            self.saved = True

    def on_train_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        self._save(trainer)

    def on_validation_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        self._save(trainer)


def fold_callbacks(fold_cfg: DictConfig, extra: list[L.Callback] | None = None) -> list[L.Callback]:
    """The configured callbacks, without the checkpoint writers whose files nothing keeps or reads
    (search trials: ``checkpoints.keep_best=false`` drops best.ckpt, ``resume_point=false`` last.ckpt); Lightning's
    progress bar and model summary, quieter (the trainer is built with ``enable_model_summary=False``)."""
    dropped = {BEST_CHECKPOINT} if fold_cfg.checkpoints.keep_best is False else set()
    if not fold_cfg.checkpoints.resume_point:
        dropped.add(RESUME_CHECKPOINT)
    callbacks = [instantiate(entry) for name, entry in (fold_cfg.callbacks or {}).items()
                 if entry is not None and name not in dropped]
    shown = fold_cfg.trainer
    library = [ProgressBar()] if shown.get("enable_progress_bar", True) else []
    library += [PlainSummary()] if shown.get("enable_model_summary", True) else []
    return [*callbacks, RngStateCallback(), LogInterval(), FrozenFeatureCache(), *library, *(extra or [])]


def tracked_best(trainer: L.Trainer, monitor: str) -> tuple[Any, str | None]:
    """The fold's best monitored value and the best checkpoint written (best.ckpt; None when none was)."""
    ckpt = next((c for c in trainer.callbacks if isinstance(c, ModelCheckpoint) and c.monitor is not None), None)
    if ckpt is not None and ckpt.best_model_score is not None:
        return ckpt.best_model_score, ckpt.best_model_path or None
    return trainer.lightning_module.best_metrics().get(f"best/{monitor.removeprefix('val/')}"), None
