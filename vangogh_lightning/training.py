"""Cross-validated training: one Lightning fit per fold, best checkpoint and summary per fold."""

from __future__ import annotations

import json
import logging
import math
import secrets
import statistics
from pathlib import Path
from typing import Any

import lightning as L
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from hydra.utils import instantiate
from lightning.pytorch.callbacks import ModelCheckpoint
from omegaconf import DictConfig, OmegaConf

from vangogh_lightning.checkpoint_io import AtomicCheckpointIO
from vangogh_lightning.data.datamodule import VanGoghDataModule
from vangogh_lightning.data.folds import check_fold
from vangogh_lightning.errors import UserError
from vangogh_lightning.images import atomic_write_text
from vangogh_lightning.loggers import build_loggers, finish_wandb, uses_wandb
from vangogh_lightning.rng_state import RngStateCallback

log = logging.getLogger(__name__)

SUMMARY = "summary.json"


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
    """``fold=k`` runs fold k only; ``fold=null`` runs every fold (full cross-validation)."""
    num_folds = int(cfg.data.num_folds)
    if cfg.fold is None:
        return list(range(num_folds))
    return [check_fold(cfg.fold, num_folds)]


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
    path = Path(ckpt_path)
    if not path.is_file():
        raise UserError(f"ckpt_path={ckpt_path}: checkpoint not found")
    return str(path)


def train_fold(cfg: DictConfig, datamodule: VanGoghDataModule, fold: int, fold_dir: Path
               ) -> dict[str, Any]:
    """Fit one fold; return its summary (best score, best checkpoint, epochs)."""
    resume = _resume_path(fold_dir, cfg.get("ckpt_path"))
    if resume is None and (fold_dir / SUMMARY).exists():
        log.info("fold %d already finished; reusing %s", fold, fold_dir / SUMMARY)
        return json.loads((fold_dir / SUMMARY).read_text())
    L.seed_everything(cfg.seed + fold, workers=True)
    datamodule.fold = fold
    print(datamodule.describe())
    model = instantiate(cfg.model, _convert_="all")
    callbacks = []
    for entry in (cfg.callbacks or {}).values():
        if entry is None:
            continue
        is_checkpoint = str(entry.get("_target_", "")).endswith("ModelCheckpoint")
        extra = {"dirpath": str(fold_dir / "checkpoints")} if is_checkpoint else {}
        callbacks.append(instantiate(entry, **extra))
    callbacks.append(RngStateCallback())
    loggers = build_loggers(cfg.logger, fold_dir, run_name=f"{cfg.model.backbone}-fold{fold}",
                            group=experiment_group(cfg), tags=[f"fold{fold}", cfg.model.backbone],
                            run_id=wandb_run_id(fold_dir) if uses_wandb(cfg.logger) else None)
    trainer: L.Trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False,
                                     default_root_dir=str(fold_dir), plugins=[AtomicCheckpointIO()])
    try:
        trainer.fit(model, datamodule=datamodule, ckpt_path=resume)
    finally:
        finish_wandb(loggers)
    if trainer.interrupted:
        raise UserError(
            f"fold {fold} was interrupted; resume it with ckpt_path=last hydra.run.dir={fold_dir.parent}"
        )
    ckpt = next((c for c in trainer.callbacks if isinstance(c, ModelCheckpoint) and c.monitor), None)
    best = ckpt.best_model_score if ckpt is not None else None
    score = float(best) if best is not None else float(trainer.callback_metrics.get(cfg.monitor.metric, math.nan))
    summary = {
        "backbone": cfg.model.backbone,
        "fold": fold,
        "monitor": cfg.monitor.metric,
        "mode": cfg.monitor.mode,
        "best_score": score,
        "best_checkpoint": ckpt.best_model_path if ckpt is not None else None,
        "epochs": trainer.current_epoch,
        "trainable_params": model.trainable_params,
    }
    atomic_write_text(json.dumps(summary, indent=2), fold_dir / SUMMARY)
    return summary


def train(cfg: DictConfig) -> float:
    """Train the configured fold(s); return the monitored metric (mean over folds) for sweeps."""
    out_dir = Path(cfg.paths.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    folds = folds_to_run(cfg)
    if cfg.get("ckpt_path") not in (None, "last") and len(folds) > 1:
        raise UserError(f"ckpt_path={cfg.ckpt_path}: a checkpoint file resumes one fold; add fold=<k> "
                        "(or use ckpt_path=last to resume every fold of the run)")
    datamodule: VanGoghDataModule = instantiate(cfg.data, _convert_="all")
    summaries = [train_fold(cfg, datamodule, k, out_dir / f"fold_{k}") for k in folds]
    scores = {s["fold"]: s["best_score"] for s in summaries}
    mean = statistics.fmean(scores.values())
    result = {
        "backbone": cfg.model.backbone,
        "monitor": cfg.monitor.metric,
        "per_fold": scores,
        "mean": mean,
        "std": statistics.pstdev(scores.values()) if len(scores) > 1 else 0.0,
    }
    atomic_write_text(json.dumps(result, indent=2), out_dir / "cv_summary.json")
    atomic_write_text(OmegaConf.to_yaml(cfg, resolve=True), out_dir / "config_resolved.yaml")
    per_fold = ", ".join(f"fold {k}: {v:.4f}" for k, v in scores.items())
    print(f"{cfg.monitor.metric} {per_fold}; mean {mean:.4f}. Results in {out_dir}")
    if math.isnan(mean):
        raise UserError(f"{cfg.monitor.metric}: never logged; check monitor.metric against the logged metrics")
    return mean
