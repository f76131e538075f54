"""Cross-validated training: one Lightning fit per fold, best checkpoint and summary per fold."""

from __future__ import annotations

import contextlib
import ctypes
import gc
import json
import logging
import math
import os
import shutil
import signal
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import pandas as pd
import torch
from hydra.utils import instantiate
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import Logger
from lightning.pytorch.trainer.states import TrainerStatus
from lightning.pytorch.utilities.exceptions import SIGTERMException
from omegaconf import DictConfig, OmegaConf

from vangogh_lightning.config.run_record import record_settings, resume_command
from vangogh_lightning.core.atomic import atomic_write_text, remove_stale_temps
from vangogh_lightning.core.console import rank_zero_print
from vangogh_lightning.core.errors import UserError
from vangogh_lightning.core.hydra_run import in_multirun
from vangogh_lightning.core.locks import LOCK_FILE, exclusive
from vangogh_lightning.core.progress import LogProgress, duration
from vangogh_lightning.core.torch_files import check_checkpoint_file
from vangogh_lightning.core.wandb_mode import check_wandb_key, uses_wandb
from vangogh_lightning.data.datamodule import VanGoghDataModule
from vangogh_lightning.data.record import record_digest
from vangogh_lightning.evaluation.judges import assess
from vangogh_lightning.models.backbones import ensure_imagenet_weights
from vangogh_lightning.models.classifier import NonFiniteError, VanGoghClassifier
from vangogh_lightning.training.callbacks import (
    STOP_SIGNALS,
    AtomicCheckpointIO,
    SaveOnStop,
    fold_callbacks,
    tracked_best,
)
from vangogh_lightning.training.loggers import build_loggers, finish_wandb, flat_config, log_group_summary
from vangogh_lightning.training.pruning import is_pruned, pruning_callbacks, trial_of_this_job
from vangogh_lightning.training.run_folder import (
    CV_SUMMARY,
    FAILED,
    LAST_CHECKPOINT,
    OOF_FILE,
    RESOLVED_CONFIG,
    SUMMARY,
    diverged_error,
    fold_config,
    keep_checkpoints_of_best_trial,
    partial_settings,
    record_failure,
    resume_path,
    wandb_run_id,
    write_job_record,
)

log = logging.getLogger(__name__)


def release_memory() -> None:
    """Give a finished fold's memory back before the next one: a sweep runs its trials in one process, and
    Lightning's reference cycles and glibc's malloc arenas would keep about a gigabyte per trial."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6").malloc_trim(0)


@dataclass
class FoldRun:
    """One fold's fit: the run's config, the fold, its folder and what was built for it."""

    cfg: DictConfig
    fold: int
    dir: Path
    datamodule: VanGoghDataModule
    model: VanGoghClassifier
    trainer: L.Trainer
    loggers: list[Logger]
    progress: LogProgress | None


def train_fold(cfg: DictConfig, datamodule: VanGoghDataModule, fold: int,
               extra_callbacks: list[L.Callback] | None = None, position: tuple[int, int] = (0, 1)) -> dict[str, Any]:
    """Fit one fold (``position``: its 0-based place among this command's folds, and their number); return
    its summary. Raises UserError when it diverged (recorded in failed.txt), was interrupted or never validated."""
    fold_dir = Path(fold_config(cfg, fold).paths.fold_dir)
    for stale in remove_stale_temps(fold_dir / "checkpoints"):
        log.info("removed %s, left by an interrupted checkpoint save", stale)
    resume = resume_path(fold_dir, cfg.get("ckpt_path"))
    if resume is None and (fold_dir / SUMMARY).exists():
        log.info("fold %d already finished; reusing %s", fold, fold_dir / SUMMARY)
        return json.loads((fold_dir / SUMMARY).read_text())
    run = build_fold(cfg, datamodule, fold, extra_callbacks, position)
    try:
        fit_fold(run, resume)
        if run.trainer.fast_dev_run:  # (Lightning's: one batch each way, no checkpoints, no loggers)
            rank_zero_print(f"fast_dev_run: fold {fold}'s training and validation steps ran; nothing is recorded as "
                            "trained (no summary.json, no checkpoint); drop debug=fdr (trainer.fast_dev_run) to train",
                            flush=True)
            return {"fold": fold, "best_score": float("nan"), "fast_dev_run": True}
        summary = finish_fold(run)
    finally:  # (the out-of-fold predictions still go through the fit's loggers: W&B closes after them)
        finish_wandb(run.loggers)
        datamodule.trainer = None  # the data module outlives the fold: drop its link to this trainer
    atomic_write_text(json.dumps(summary, indent=2), fold_dir / SUMMARY)
    return summary


def build_fold(cfg: DictConfig, datamodule: VanGoghDataModule, fold: int, extra_callbacks: list[L.Callback] | None,
               position: tuple[int, int]) -> FoldRun:
    """Seed, point the data at ``fold``, build the model, callbacks, loggers and trainer of its fit."""
    fold_cfg = fold_config(cfg, fold)
    fold_dir = Path(fold_cfg.paths.fold_dir)
    (fold_dir / FAILED).unlink(missing_ok=True)  # an earlier fit's failure; this one decides anew
    L.seed_everything(cfg.seed + fold, workers=True)
    datamodule.fold = fold
    rank_zero_print(datamodule.describe())
    model = instantiate(fold_cfg.model, monitor=cfg.monitor.metric, monitor_mode=cfg.monitor.mode, _convert_="all")
    callbacks = fold_callbacks(fold_cfg, extra_callbacks)
    progress = next((c for c in callbacks if isinstance(c, LogProgress)), None)
    if progress is not None:
        progress.fold, (progress.position, progress.count) = fold, position
    debug = ["debug"] if partial_settings(cfg.trainer) else []
    loggers = build_loggers(fold_cfg.logger, tags=[*cfg.tags, f"fold{fold}", cfg.model.backbone, *debug],
                            run_id=wandb_run_id(fold_dir) if uses_wandb(cfg.logger) else None)
    for logger in loggers:  # every logger, W&B and TensorBoard alike, gets the whole resolved config
        logger.log_hyperparams(flat_config(fold_cfg))
    # Without a checkpoint callback of ours Lightning would add its own, saving every epoch.
    trainer: L.Trainer = instantiate(fold_cfg.trainer, callbacks=callbacks, logger=loggers or False,
                                     default_root_dir=str(fold_dir), plugins=[AtomicCheckpointIO()],
                                     enable_checkpointing=any(isinstance(c, ModelCheckpoint) for c in callbacks),
                                     enable_model_summary=False)  # (fold_callbacks' summary instead)
    record_settings(cfg)
    return FoldRun(cfg, fold, fold_dir, datamodule, model, trainer, loggers, progress)


def fit_fold(run: FoldRun, resume: str | None) -> None:
    """``trainer.fit``, and what each way of stopping early means for the fold."""
    try:
        run.trainer.fit(run.model, datamodule=run.datamodule, ckpt_path=resume)
    except NonFiniteError as exc:
        raise record_failure(run.dir, diverged_error(run.fold, run.cfg, str(exc))) from None
    except SystemExit as exc:
        # A stop signal: Lightning's SIGTERMException (status 0); a second Ctrl-C: Lightning's sys.exit(1). Neither
        # says how to go on, and a shell or scheduler expects 128 + the signal's number.
        stopper = next((c for c in run.trainer.callbacks if isinstance(c, SaveOnStop)), SaveOnStop())
        if not isinstance(exc, SIGTERMException) and run.trainer.state.status != TrainerStatus.INTERRUPTED:
            raise
        signum = stopper.received or (signal.SIGTERM if isinstance(exc, SIGTERMException) else signal.SIGINT)
        raise stopped(run, signum, stopper.saved) from None
    except Exception as exc:
        if is_pruned(exc) and run.cfg.checkpoints.keep_best is not True:
            shutil.rmtree(run.dir / "checkpoints", ignore_errors=True)  # a pruned trial keeps nothing to resume
        raise
    if run.trainer.interrupted:
        raise UserError(f"fold {run.fold} was interrupted; resume it with: {resume_command(run.dir.parent)}")


def stopped(run: FoldRun | None, signum: int, saved: bool, out_dir: Path | None = None) -> SystemExit:
    """Say in one line how the run stopped and how to go on; the exit status a shell expects (128 + the signal)."""
    where = ""
    if run is not None:
        where = (f" in fold {run.fold} after {run.trainer.current_epoch} of {run.trainer.max_epochs} epochs" +
                 ("; saved where it stopped" if saved else ""))
    folder = run.dir.parent if run is not None else out_dir
    then = ("re-run the same command: the study asks new trials" if in_multirun() else
            f"resume it with: {resume_command(folder)}")
    rank_zero_print(f"error: stopped by {STOP_SIGNALS[signum]}{where}; {then}", file=sys.stderr, flush=True)
    return SystemExit(128 + signum)


def out_of_fold_predictions(trainer: L.Trainer, model: VanGoghClassifier, datamodule: VanGoghDataModule,
                            checkpoint: Path, images_per_s: float | None = None) -> pd.DataFrame:
    """One row per validation image of the current fold, scored by ``checkpoint``'s weights: path, artist, label,
    probability of Van Gogh. Keeps to ``trainer.limit_val_batches``; announced with its size and, given the
    fit's validation speed ``images_per_s``, how long it will take."""
    _, rows = datamodule.split(datamodule.fold)
    loader = datamodule.val_dataloader()
    limit = trainer.limit_predict_batches = trainer.limit_val_batches
    batches = len(loader)
    kept = min(batches, int(limit) if isinstance(limit, int) else math.floor(batches * float(limit)))
    images = min(len(rows), kept * (loader.batch_size or 1))
    limited = f" (of {len(rows)}: trainer.limit_val_batches={limit})" if images < len(rows) else ""
    eta = f", about {duration(images / images_per_s)}" if images_per_s else ""
    rank_zero_print(f"fold {datamodule.fold}: out-of-fold pass, scoring {images} validation images{limited} with "
                    f"{checkpoint.name}{eta}", flush=True)
    predicted = trainer.predict(model, dataloaders=loader, ckpt_path=str(checkpoint))
    probabilities = torch.cat(predicted).cpu().numpy() if predicted else []
    frame = rows[["filename", "path", "artist", "label"]].reset_index(drop=True).iloc[:len(probabilities)]
    return frame.assign(fold=datamodule.fold, p_van_gogh=probabilities,
                        predicted=lambda f: (f["p_van_gogh"] >= model.hparams.threshold).astype(int))


def finish_fold(run: FoldRun) -> dict[str, Any]:
    """A fitted fold's summary; last.ckpt dropped (unless kept), and the out-of-fold predictions of its best weights."""
    cfg, bests = run.cfg, run.model.best_metrics()  # (read before the out-of-fold pass loads best.ckpt)
    best_score, best_file = tracked_best(run.trainer, cfg.monitor.metric)
    if best_score is None or math.isnan(float(best_score)):  # (no summary is written)
        raise UserError(f"fold {run.fold} never validated (trainer.max_epochs={cfg.trainer.get('max_epochs')}, "
                        f"{cfg.monitor.metric} never logged); no summary.json was written, so it cannot pass for a "
                        "finished fold; train at least one epoch with validation")
    best_path = Path(best_file) if best_file else None
    if not cfg.checkpoints.keep_last:  # last.ckpt: only a resume reads it
        (run.dir / LAST_CHECKPOINT).unlink(missing_ok=True)
    if best_path is not None:
        oof = out_of_fold_predictions(run.trainer, run.model, run.datamodule, best_path,
                                      run.progress.val_images_per_s if run.progress else None)
        if not oof["p_van_gogh"].map(math.isfinite).all():  # (weights were checked finite at every epoch)
            raise record_failure(run.dir, diverged_error(
                run.fold, cfg, f"non-finite out-of-fold probabilities from {best_path.name}"))
        atomic_write_text(oof.to_csv(index=False), run.dir / OOF_FILE)
        judged = assess(oof, run.model.hparams.threshold)  # how well the fold's best weights judge
        bests.update({"oof/auroc": judged.auroc, "oof/auroc_low": judged.low, "oof/auroc_high": judged.high,
                      "oof/ece": judged.ece})
        for logger in run.loggers:  # (W&B keeps the last value of each in the run's summary)
            logger.log_metrics({k: v for k, v in bests.items() if k.startswith("oof/") and math.isfinite(v)})
            logger.save()
    # best_checkpoint: relative to the fold folder, so a moved run folder still finds it (Lightning stores a
    # resolved path; the run folder may be reached through a symlink).
    relative = Path(os.path.relpath(best_path.resolve(), run.dir.resolve())).as_posix() if best_path else None
    return {"backbone": cfg.model.backbone, "fold": run.fold, "monitor": cfg.monitor.metric, "mode": cfg.monitor.mode,
            "best_score": float(best_score), "best_checkpoint": relative, "epochs": run.trainer.current_epoch,
            "trainable_params": run.model.trainable_params, "tags": list(cfg.tags),
            "data": record_digest(run.datamodule.record()), "debug": partial_settings(cfg.trainer), **bests}


def cv_statistics(summaries: list[dict[str, Any]]) -> dict[str, float]:
    """``cv/<metric>_mean`` and ``_std`` over the folds of every ``best/<metric>`` the folds report."""
    stats: dict[str, float] = {}
    for key in sorted({k for s in summaries for k in s if k.startswith("best/") and k != "best/epoch"}):
        values = [float(s[key]) for s in summaries if s.get(key) is not None]
        if values:
            name = key.removeprefix("best/")
            stats[f"cv/{name}_mean"] = statistics.fmean(values)
            stats[f"cv/{name}_std"] = statistics.pstdev(values) if len(values) > 1 else 0.0
    return stats


def check_train_files(cfg: DictConfig) -> None:
    """Before the data is read, what the config check could not see: a missing GPU, ImageNet weights that
    cannot be had, a resume checkpoint's content, the W&B key."""
    accelerator = str(cfg.trainer.get("accelerator", "auto"))
    if accelerator in ("gpu", "cuda") and not torch.cuda.is_available():
        raise UserError(f"trainer.accelerator={accelerator}: no CUDA GPU is visible here; use trainer=cpu, or "
                        "trainer.accelerator=auto to use a GPU only where there is one")
    if cfg.model.pretrained:
        ensure_imagenet_weights(cfg.model.backbone, cfg.model.get("weights_path"))
    if cfg.get("ckpt_path") not in (None, "last"):
        check_checkpoint_file(cfg.ckpt_path, "ckpt_path")
    if uses_wandb(cfg.logger):
        check_wandb_key()


def train(cfg: DictConfig) -> float:
    """Train the configured fold(s); return the monitored metric (mean over folds) for sweeps. One writer at a
    time per run folder (a sweep's jobs each have their own; DDP's other ranks run inside rank 0's lock)."""
    check_train_files(cfg)
    if in_multirun() or int(os.environ.get("LOCAL_RANK", "0")) != 0:
        return _train(cfg)
    with exclusive(cfg.paths.output_dir, LOCK_FILE, "train.py", key="hydra.run.dir"):
        return _train(cfg)


def _train(cfg: DictConfig) -> float:
    out_dir = Path(cfg.paths.output_dir)
    # fold=k: fold k only (range-checked with the config); fold=null: every fold (full cross-validation)
    folds = list(range(int(cfg.data.num_folds))) if cfg.fold is None else [int(cfg.fold)]
    datamodule: VanGoghDataModule = instantiate(cfg.data, _convert_="all")
    if in_multirun():
        write_job_record(out_dir)
    trial = trial_of_this_job(cfg) if in_multirun() else None
    summaries, stopper = [], SaveOnStop()
    with stopper.listening():
        for position, k in enumerate(folds):
            if stopper.received:  # (between folds, or before the first: nothing in hand to save)
                raise stopped(None, stopper.received, False, out_dir)
            summaries.append(train_fold(cfg, datamodule, k, [*pruning_callbacks(cfg, trial, position), stopper],
                                        position=(position, len(folds))))
            release_memory()
    if any(s.get("fast_dev_run") for s in summaries):
        return float("nan")  # a code-path check: no scores, no CV summary
    scores = {s["fold"]: s["best_score"] for s in summaries}
    mean = statistics.fmean(scores.values())
    result = {"backbone": cfg.model.backbone, "monitor": cfg.monitor.metric, "per_fold": scores, "mean": mean,
              "std": statistics.pstdev(scores.values()) if len(scores) > 1 else 0.0, "tags": list(cfg.tags),
              "debug": partial_settings(cfg.trainer),
              "oof_auroc_interval": {s["fold"]: [s.get("oof/auroc_low"), s.get("oof/auroc_high")] for s in summaries},
              **cv_statistics(summaries)}
    atomic_write_text(json.dumps(result, indent=2), out_dir / CV_SUMMARY)
    if len(summaries) > 1:
        log_group_summary(cfg.logger, f"{cfg.model.backbone}-cv", str(out_dir),
                          {"cv/folds": len(summaries), **{k: v for k, v in result.items() if k.startswith("cv/")}},
                          flat_config(cfg), tags=list(cfg.tags), job_type="trial-cv" if cfg.get("search") else "cv")
    if cfg.checkpoints.keep_best == "best_trial":
        keep_checkpoints_of_best_trial(out_dir, mean, cfg.monitor.mode)
    atomic_write_text(OmegaConf.to_yaml(cfg, resolve=True), out_dir / RESOLVED_CONFIG)
    per_fold = ", ".join(f"fold {k}: {v:.4f}" for k, v in scores.items())
    across = f"; mean {mean:.4f}" if len(scores) > 1 else ""  # (one fold has no mean)
    rank_zero_print(f"{cfg.monitor.metric} {per_fold}{across}. Results in {out_dir}")
    if math.isnan(mean):
        raise UserError(f"{cfg.monitor.metric}: never logged; check monitor.metric against the logged metrics")
    return mean
