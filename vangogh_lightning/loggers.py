"""Instantiate the configured Lightning loggers for one fold; W&B goes offline without credentials."""

from __future__ import annotations

import logging
import netrc
import os
from pathlib import Path
from typing import Any

from hydra.utils import instantiate
from lightning.pytorch.loggers import Logger
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)


def wandb_credentials_available() -> bool:
    """True when an API key is in the environment or in ~/.netrc for api.wandb.ai."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    if os.environ.get("WANDB_MODE", "").lower() in ("offline", "disabled", "dryrun"):
        return False
    try:
        return netrc.netrc().authenticators("api.wandb.ai") is not None
    except (FileNotFoundError, netrc.NetrcParseError, OSError):
        return False


def uses_wandb(logger_cfg: DictConfig | None) -> bool:
    """True when one of the configured loggers is a WandbLogger."""
    return any(entry is not None and str(entry.get("_target_", "")).endswith("WandbLogger")
               for entry in (logger_cfg or {}).values())


def build_loggers(logger_cfg: DictConfig | None, save_dir: Path, run_name: str, group: str,
                  tags: list[str] | None = None, run_id: str | None = None) -> list[Logger]:
    """One logger per entry of ``cfg.logger``, all writing under ``save_dir``.

    ``run_id`` makes W&B resume the same run when a fold is continued from its last checkpoint.
    """
    loggers: list[Logger] = []
    if not logger_cfg:
        return loggers
    for key, entry in logger_cfg.items():
        if entry is None:
            continue
        target = str(entry.get("_target_", ""))
        overrides: dict[str, Any] = {"save_dir": str(save_dir)}
        if target.endswith("CSVLogger"):
            # A resumed fit gets csv/version_<n+1>: Lightning would delete an existing metrics.csv.
            overrides.update(name="csv", version=None)
        elif target.endswith("TensorBoardLogger"):
            overrides.update(name="tensorboard", version=None)
        if target.endswith("WandbLogger"):
            entry = OmegaConf.to_container(entry, resolve=True)
            offline = entry.get("offline", "auto")
            if offline == "auto":
                offline = not wandb_credentials_available()
                if offline:
                    log.info("W&B: no credentials found, logging offline (sync later with `wandb sync`)")
            entry["offline"] = bool(offline)
            entry["tags"] = list(entry.get("tags") or []) + list(tags or [])
            overrides.update(name=run_name, group=entry.get("group") or group)
            if run_id is not None:
                overrides.update(id=run_id, resume="allow")
        log.debug("logger %s -> %s", key, target)
        loggers.append(instantiate(entry, **overrides))
    return loggers


def finish_wandb(loggers: list[Logger]) -> None:
    """Close W&B runs so the next fold starts a new run in the same group."""
    for logger in loggers:
        if type(logger).__name__ == "WandbLogger":
            import wandb

            wandb.finish()
