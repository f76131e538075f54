"""Cross-validated training: one Lightning fit per fold, best checkpoint and summary per fold."""

from __future__ import annotations

import contextlib
import copy
import ctypes
import gc
import json
import logging
import math
import os
import secrets
import shutil
import socket
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import lightning as L
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict

from vangogh_lightning.atomic import atomic_write_text, remove_stale_temps
from vangogh_lightning.checkpoint_io import AtomicCheckpointIO
from vangogh_lightning.cli import in_multirun
from vangogh_lightning.config_checks import check_output_dir, check_script_config
from vangogh_lightning.data.datamodule import VanGoghDataModule
from vangogh_lightning.errors import UserError
from vangogh_lightning.fold_callbacks import fold_callbacks, tracked_best, writes_checkpoints
from vangogh_lightning.images import set_max_pixels
from vangogh_lightning.loggers import build_loggers, check_wandb_key, finish_wandb, log_group_summary, uses_wandb
from vangogh_lightning.out_of_fold import OOF_FILE, out_of_fold_predictions
from vangogh_lightning.pruning import pruning_callbacks, trial_of_this_job
from vangogh_lightning.run_summary import BestMetrics, flat_config
from vangogh_lightning.torch_files import check_checkpoint_file, require_file

log = logging.getLogger(__name__)

SUMMARY = "summary.json"
JOB_RECORD = "job.json"


def experiment_group(cfg: DictConfig) -> str:
    """W&B group: all folds of one run, of one fold multirun, or of one Optuna trial."""
    try:
        hydra_cfg = HydraConfig.get()
    except ValueError:
        return f"{cfg.task_name}-{Path(cfg.paths.output_dir).name}"
    if hydra_cfg.mode == RunMode.MULTIRUN:
        sweep = Path(hydra_cfg.sweep.dir).name
        if "optuna" in str(hydra_cfg.sweeper.get("_target_", "")).lower():
            return f"{cfg.task_name}-{sweep}-trial{hydra_cfg.job.num}"
        return f"{cfg.task_name}-{cfg.model.backbone}-{sweep}"
    return f"{cfg.task_name}-{cfg.model.backbone}-{Path(hydra_cfg.runtime.output_dir).name}"


def folds_to_run(cfg: DictConfig) -> list[int]:
    """``fold=k`` runs fold k only; ``fold=null`` runs every fold (full cross-validation).

    ``fold`` is range-checked with the other train keys (``check_train_inputs``) before any work."""
    if cfg.fold is None:
        return list(range(int(cfg.data.num_folds)))
    return [int(cfg.fold)]


def wandb_run_id(fold_dir: Path) -> str:
    """A W&B run id per fold, kept in the fold folder so a resumed fit continues the same W&B run."""
    path = fold_dir / "wandb_run_id"
    if path.is_file():
        return path.read_text().strip()
    run_id = secrets.token_hex(4)  # W&B run ids: short, lowercase alphanumeric
    atomic_write_text(run_id, path)
    return run_id


def _resume_path(fold_dir: Path, ckpt_path: str | None) -> str | None:
    last = fold_dir / "checkpoints" / "last.ckpt"
    if ckpt_path is None:
        if (fold_dir / SUMMARY).exists() or last.exists():  # wandb_run_id alone: nothing trained yet
            raise UserError(
                f"{fold_dir}: already holds a training run; pass ckpt_path=last to resume it, "
                "or choose a new hydra.run.dir"
            )
        return None
    if ckpt_path == "last":
        if (fold_dir / SUMMARY).exists():
            return None  # finished already; train() reuses its summary
        return str(last) if last.exists() else None
    return str(require_file(ckpt_path, "ckpt_path", "checkpoint"))


def fold_config(cfg: DictConfig, fold: int) -> DictConfig:
    """The run's config with ``fold`` set: ``paths.fold_dir`` and every folder built on it follow."""
    fold_cfg = copy.deepcopy(cfg)
    with open_dict(fold_cfg):
        fold_cfg.fold = fold
    return fold_cfg


def never_validated(fold: int, cfg: DictConfig) -> UserError:
    return UserError(
        f"fold {fold} never validated (trainer.max_epochs={cfg.trainer.get('max_epochs')}, "
        f"{cfg.monitor.metric} never logged); no summary.json was written, so it cannot pass for a finished "
        "fold; train at least one epoch with validation"
    )


def finish_checkpoints(cfg: DictConfig, ckpt_dir: Path, best: Path | None) -> Path | None:
    """Drop what a finished fold no longer needs; return the best checkpoint if it is kept."""
    if not cfg.checkpoints.keep_last:
        (ckpt_dir / "last.ckpt").unlink(missing_ok=True)  # only a resume needs it
    if best is not None and cfg.checkpoints.keep_best is False:
        best.unlink(missing_ok=True)
        return None
    return best


def release_memory() -> None:
    """Give a finished fold's model, optimizer and loader memory back before the next one.

    A sweep runs its trials in one process; without this, Lightning's reference cycles and glibc's
    malloc arenas kept ~1 GB per trial (13 mixed AlexNet/VGG-19 trials: 16.6 GB resident). With it the
    process returns to ~1 GB between folds (measured in-process, 6 mixed fits).
    """
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6").malloc_trim(0)


def train_fold(cfg: DictConfig, datamodule: VanGoghDataModule, fold: int,
               extra_callbacks: list[L.Callback] | None = None) -> dict[str, Any]:
    """Fit one fold; return its summary (best score, best checkpoint, epochs)."""
    fold_cfg = fold_config(cfg, fold)
    fold_dir = Path(fold_cfg.paths.fold_dir)
    ckpt_dir = fold_dir / "checkpoints"
    for stale in remove_stale_temps(ckpt_dir):
        log.info("removed %s, left by an interrupted checkpoint save", stale)
    resume = _resume_path(fold_dir, cfg.get("ckpt_path"))
    if resume is None and (fold_dir / SUMMARY).exists():
        log.info("fold %d already finished; reusing %s", fold, fold_dir / SUMMARY)
        return json.loads((fold_dir / SUMMARY).read_text())
    L.seed_everything(cfg.seed + fold, workers=True)
    datamodule.fold = fold
    print(datamodule.describe())
    model = instantiate(fold_cfg.model, _convert_="all")
    callbacks = fold_callbacks(fold_cfg, extra_callbacks)
    loggers = build_loggers(fold_cfg.logger, group=experiment_group(cfg), tags=[f"fold{fold}", cfg.model.backbone],
                            run_id=wandb_run_id(fold_dir) if uses_wandb(cfg.logger) else None)
    for logger in loggers:  # every logger, W&B and TensorBoard alike, gets the whole resolved config
        logger.log_hyperparams(flat_config(fold_cfg))
    # Without a checkpoint callback of ours Lightning would add its own, saving every epoch.
    trainer: L.Trainer = instantiate(fold_cfg.trainer, callbacks=callbacks, logger=loggers or False,
                                     default_root_dir=str(fold_dir), plugins=[AtomicCheckpointIO()],
                                     enable_checkpointing=writes_checkpoints(callbacks))
    try:
        trainer.fit(model, datamodule=datamodule, ckpt_path=resume)
    except Exception as exc:
        if type(exc).__name__ == "TrialPruned" and cfg.checkpoints.keep_best is not True:
            shutil.rmtree(ckpt_dir, ignore_errors=True)  # a pruned trial keeps nothing to resume
        raise
    finally:
        finish_wandb(loggers)
        datamodule.trainer = None  # the data module outlives the fold: drop its link to this trainer
    if trainer.interrupted:
        raise UserError(
            f"fold {fold} was interrupted; resume it with ckpt_path=last hydra.run.dir={fold_dir.parent}"
        )
    best_score, best_file = tracked_best(trainer, cfg.monitor.metric)
    if best_score is None or math.isnan(float(best_score)):
        raise never_validated(fold, cfg)
    best_path = Path(best_file) if best_file else None
    best_path = finish_checkpoints(cfg, ckpt_dir, best_path)
    if best_path is not None:  # folds that keep their best weights: the validation images scored by them
        oof = out_of_fold_predictions(model, datamodule, best_path)
        atomic_write_text(oof.to_csv(index=False), fold_dir / OOF_FILE)
    summary = {
        "backbone": cfg.model.backbone,
        "fold": fold,
        "monitor": cfg.monitor.metric,
        "mode": cfg.monitor.mode,
        "best_score": float(best_score),
        # Relative to the fold folder, so a moved run folder still finds it.
        # (Lightning stores a resolved path; the run folder may be reached through a symlink.)
        "best_checkpoint": Path(os.path.relpath(best_path.resolve(), fold_dir.resolve())).as_posix()
        if best_path is not None else None,
        "epochs": trainer.current_epoch,
        "trainable_params": model.trainable_params,
    }
    summary.update(next(c for c in trainer.callbacks if isinstance(c, BestMetrics)).summary())
    atomic_write_text(json.dumps(summary, indent=2), fold_dir / SUMMARY)
    return summary


def cv_statistics(summaries: list[dict[str, Any]]) -> dict[str, float]:
    """``cv/<metric>_mean`` and ``_std`` over the folds of every ``best/<metric>`` the folds report."""
    stats: dict[str, float] = {}
    keys = sorted({k for s in summaries for k in s if k.startswith("best/") and k != "best/epoch"})
    for key in keys:
        values = [float(s[key]) for s in summaries if s.get(key) is not None]
        if values:
            name = key.removeprefix("best/")
            stats[f"cv/{name}_mean"] = statistics.fmean(values)
            stats[f"cv/{name}_std"] = statistics.pstdev(values) if len(values) > 1 else 0.0
    return stats


def write_job_record(out_dir: Path) -> None:
    """Which process runs this sweep job: lets a later sweep tell a dead trial from a running one."""
    record = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}
    atomic_write_text(json.dumps(record), out_dir / JOB_RECORD)


def _drop_best_checkpoints(run_dir: Path, why: str) -> None:
    for summary_path in run_dir.glob(f"fold_*/{SUMMARY}"):
        summary = json.loads(summary_path.read_text())
        if summary.get("best_checkpoint"):
            (summary_path.parent / summary["best_checkpoint"]).unlink(missing_ok=True)
            summary.update(best_checkpoint=None, checkpoint_removed=why)
            atomic_write_text(json.dumps(summary, indent=2), summary_path)


def keep_checkpoints_of_best_trial(out_dir: Path, mean: float, mode: str) -> None:
    """``checkpoints.keep_best=best_trial``: only the best finished trial of this sweep folder keeps them."""
    others = []
    for path in out_dir.parent.glob("*/cv_summary.json"):
        if path.parent != out_dir:
            others.append((float(json.loads(path.read_text())["mean"]), path.parent))
    sign = 1.0 if mode == "max" else -1.0
    if all(sign * mean > sign * value for value, _ in others):
        for _, other in others:
            _drop_best_checkpoints(other, f"a better trial: {out_dir.name}")
    else:
        _drop_best_checkpoints(out_dir, "not the best trial of the sweep")


def check_train_inputs(cfg: DictConfig) -> Path:
    """Every user-settable key and file of a training run, checked before any work; returns the run dir."""
    check_script_config(cfg, "train")
    set_max_pixels(cfg.max_image_pixels)
    if cfg.get("ckpt_path") not in (None, "last"):
        check_checkpoint_file(cfg.ckpt_path, "ckpt_path")
    if uses_wandb(cfg.logger):
        check_wandb_key()
    return check_output_dir(cfg.paths.output_dir, "hydra.run.dir")


def train(cfg: DictConfig) -> float:
    """Train the configured fold(s); return the monitored metric (mean over folds) for sweeps."""
    out_dir = check_train_inputs(cfg)
    folds = folds_to_run(cfg)
    datamodule: VanGoghDataModule = instantiate(cfg.data, _convert_="all")
    if in_multirun():
        write_job_record(out_dir)
    trial = trial_of_this_job(cfg) if in_multirun() else None
    summaries = []
    for position, k in enumerate(folds):
        summaries.append(train_fold(cfg, datamodule, k, pruning_callbacks(cfg, trial, position)))
        release_memory()
    scores = {s["fold"]: s["best_score"] for s in summaries}
    mean = statistics.fmean(scores.values())
    result = {
        "backbone": cfg.model.backbone,
        "monitor": cfg.monitor.metric,
        "per_fold": scores,
        "mean": mean,
        "std": statistics.pstdev(scores.values()) if len(scores) > 1 else 0.0,
    }
    result.update(cv_statistics(summaries))
    atomic_write_text(json.dumps(result, indent=2), out_dir / "cv_summary.json")
    if len(summaries) > 1:
        log_group_summary(cfg.logger, experiment_group(cfg), f"{cfg.model.backbone}-cv", str(out_dir),
                          {"cv/folds": len(summaries), **{k: v for k, v in result.items() if k.startswith("cv/")}},
                          flat_config(cfg))
    if cfg.checkpoints.keep_best == "best_trial":
        keep_checkpoints_of_best_trial(out_dir, mean, cfg.monitor.mode)
    atomic_write_text(OmegaConf.to_yaml(cfg, resolve=True), out_dir / "config_resolved.yaml")
    per_fold = ", ".join(f"fold {k}: {v:.4f}" for k, v in scores.items())
    print(f"{cfg.monitor.metric} {per_fold}; mean {mean:.4f}. Results in {out_dir}")
    if math.isnan(mean):
        raise UserError(f"{cfg.monitor.metric}: never logged; check monitor.metric against the logged metrics")
    return mean
