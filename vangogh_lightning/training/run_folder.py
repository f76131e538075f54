"""A training run folder: its file names (readers of run folders take them from here), and the policies
over them (resume, what a finished fold or search trial keeps, who runs a sweep job)."""

from __future__ import annotations

import copy
import json
import os
import secrets
import socket
import time
from pathlib import Path

from omegaconf import DictConfig, open_dict

from vangogh_lightning.core.atomic import atomic_write_text
from vangogh_lightning.core.errors import UserError
from vangogh_lightning.core.torch_files import require_file

SUMMARY = "summary.json"            # fold_<k>/: a finished fold (written last)
FAILED = "failed.txt"               # fold_<k>/: why its last fit stopped without finishing (diverged)
CV_SUMMARY = "cv_summary.json"      # the run: per-fold scores and their mean
OOF_FILE = "oof_predictions.csv"    # fold_<k>/: each validation image scored by the fold's best weights
WANDB_RUN_ID = "wandb_run_id"       # fold_<k>/: the fold's W&B run, resumed with it
JOB_RECORD = "job.json"             # a sweep job: which process runs it
RESOLVED_CONFIG = "config_resolved.yaml"
LAST_CHECKPOINT = Path("checkpoints") / "last.ckpt"


# Trainer settings that make a fit see part of its data: a run with any is a debug run, not a result.
PARTIAL_SETTINGS = ("fast_dev_run", "overfit_batches", "limit_train_batches", "limit_val_batches")


def partial_settings(trainer: DictConfig) -> list[str]:
    """The settings of :data:`PARTIAL_SETTINGS` in use (``["trainer.limit_val_batches=2"]``; [] for a full run)."""
    def full(value: object) -> bool:  # (1.0 is all batches, 1 is one batch)
        return value in (None, False, 0) or (isinstance(value, float) and value == 1.0)
    return [f"trainer.{key}={trainer.get(key)}" for key in PARTIAL_SETTINGS if not full(trainer.get(key))]


def fold_config(cfg: DictConfig, fold: int) -> DictConfig:
    """The run's config with ``fold`` set: ``paths.fold_dir`` and every folder built on it follow."""
    fold_cfg = copy.deepcopy(cfg)
    with open_dict(fold_cfg):
        fold_cfg.fold = fold
    return fold_cfg


def wandb_run_id(fold_dir: Path) -> str:
    """A W&B run id per fold, kept in the fold folder so a resumed fit continues the same W&B run."""
    path = fold_dir / WANDB_RUN_ID
    if path.is_file():
        return path.read_text().strip()
    run_id = secrets.token_hex(4)  # W&B run ids: short, lowercase alphanumeric
    atomic_write_text(run_id, path)
    return run_id


def resume_path(fold_dir: Path, ckpt_path: str | None) -> str | None:
    """The checkpoint a fold continues from (None: a fresh fit, or a finished fold that is reused); a folder
    that already holds a fold is never trained over without ``ckpt_path=last``."""
    last = fold_dir / LAST_CHECKPOINT
    if ckpt_path is None:
        if (fold_dir / SUMMARY).exists() or last.exists():  # wandb_run_id alone: nothing trained yet
            raise UserError(f"{fold_dir}: already holds a training run; pass ckpt_path=last to resume it, "
                            "or choose a new hydra.run.dir")
        return None
    if ckpt_path == "last":  # (a finished fold: None, train() reuses its summary)
        return str(last) if last.exists() and not (fold_dir / SUMMARY).exists() else None
    return str(require_file(ckpt_path, "ckpt_path", "checkpoint"))


def diverged_error(fold: int, cfg: DictConfig, reason: str) -> UserError:
    """The error for a fold whose fit became non-finite (no summary is written; ``failed.txt`` says why)."""
    return UserError(f"fold {fold} diverged: {reason}; it is not recorded as finished. Lower model.lr "
                     f"(now {cfg.model.get('lr')}) or set trainer.gradient_clip_val, and train it again")


def record_failure(fold_dir: Path, error: UserError) -> UserError:
    """Write why the fold failed to ``fold_<k>/failed.txt`` (read by fold selection); return the error."""
    atomic_write_text(f"{error}\n", fold_dir / FAILED)
    return error


def write_job_record(out_dir: Path) -> None:
    """Which process runs this sweep job: lets a later sweep tell a dead trial from a running one."""
    record = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}
    atomic_write_text(json.dumps(record), out_dir / JOB_RECORD)


def drop_best_checkpoints(run_dir: Path, why: str) -> None:
    """Delete the best checkpoints of a run's folds and say so in their summaries."""
    for summary_path in run_dir.glob(f"fold_*/{SUMMARY}"):
        summary = json.loads(summary_path.read_text())
        if summary.get("best_checkpoint"):
            (summary_path.parent / summary["best_checkpoint"]).unlink(missing_ok=True)
            summary.update(best_checkpoint=None, checkpoint_removed=why)
            atomic_write_text(json.dumps(summary, indent=2), summary_path)


def keep_checkpoints_of_best_trial(out_dir: Path, mean: float, mode: str) -> None:
    """``checkpoints.keep_best=best_trial``: only the best finished trial of this sweep folder keeps them."""
    others = [(float(json.loads(path.read_text())["mean"]), path.parent)
              for path in out_dir.parent.glob(f"*/{CV_SUMMARY}") if path.parent != out_dir]
    sign = 1.0 if mode == "max" else -1.0
    if all(sign * mean > sign * value for value, _ in others):
        for _, other in others:
            drop_best_checkpoints(other, f"a better trial: {out_dir.name}")
    else:
        drop_best_checkpoints(out_dir, "not the best trial of the sweep")
