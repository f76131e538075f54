"""The configured Lightning loggers of one fold, and what each of them records about the run."""

from __future__ import annotations

import logging
from typing import Any

from hydra.utils import instantiate
from lightning.pytorch.loggers import Logger, WandbLogger
from omegaconf import DictConfig, OmegaConf

from vangogh_lightning.core.wandb_mode import is_wandb_entry, resolve_wandb_offline, uses_wandb

log = logging.getLogger(__name__)

# Config sections that describe where things go or how they are logged, not the experiment.
NOT_LOGGED = ("hydra", "logger", "callbacks", "paths")


def flat_config(cfg: DictConfig) -> dict[str, Any]:
    """The resolved run config as flat ``section.key`` entries (lists as text) for any logger."""
    tree = OmegaConf.to_container(cfg, resolve=True)
    return _flat({key: value for key, value in tree.items() if key not in NOT_LOGGED})


def _flat(node: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(node, dict):
        return {k: v for key, value in node.items() for k, v in _flat(value, f"{prefix}{key}.").items()}
    return {prefix[:-1]: ", ".join(map(str, node)) if isinstance(node, (list, tuple)) else node}


def build_loggers(logger_cfg: DictConfig | None, tags: list[str] | None = None, run_id: str | None = None,
                  wandb_overrides: dict | None = None) -> list[Logger]:
    """One logger per entry of ``cfg.logger``, as configured; W&B also gets the run's tags, offline when no
    server can be reached, and ``run_id`` so a fold continued from its last checkpoint resumes its W&B run."""
    loggers: list[Logger] = []
    for key, entry in (logger_cfg or {}).items():
        if entry is None:
            continue
        if is_wandb_entry(entry):
            entry = OmegaConf.to_container(entry, resolve=True)
            entry["offline"] = resolve_wandb_offline(entry.get("offline", "auto"))
            entry["tags"] = list(entry.get("tags") or []) + list(tags or [])
            if run_id is not None:
                entry.update(id=run_id, resume="allow")
            entry.update(wandb_overrides or {})
        log.debug("logger %s -> %s", key, entry.get("_target_"))
        logger = instantiate(entry)
        if isinstance(logger, WandbLogger):  # Lightning passes anonymous=None, and W&B warns that it has no effect
            logger._wandb_init.pop("anonymous", None)
        loggers.append(logger)
    return loggers


def finish_wandb(loggers: list[Logger]) -> None:
    """Close W&B runs so the next fold starts a new run in the same group."""
    if any(isinstance(logger, WandbLogger) for logger in loggers):
        import wandb

        wandb.finish()


def log_group_summary(logger_cfg: DictConfig | None, name: str, save_dir: str, summary: dict,
                      config: dict | None = None, tags: list[str] | None = None, job_type: str = "cv") -> None:
    """One extra W&B run in the folds' group (job type ``job_type``) whose summary holds the group's figures (W&B
    has no group-level summary: the runs table finds the CV mean and std here). Nothing without a W&B logger."""
    if not uses_wandb(logger_cfg):
        return
    resolved = OmegaConf.to_container(logger_cfg, resolve=True)
    wandb_only = OmegaConf.create({k: v for k, v in resolved.items() if is_wandb_entry(v)})
    loggers = build_loggers(wandb_only, tags=[*(tags or []), "cv"],
                            wandb_overrides={"name": name, "job_type": job_type, "save_dir": save_dir})
    for logger in loggers:
        if config:
            logger.log_hyperparams(config)
        logger.experiment.summary.update(summary)
    finish_wandb(loggers)
