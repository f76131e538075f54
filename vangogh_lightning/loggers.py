"""Instantiate the configured Lightning loggers for one fold; W&B goes offline without credentials."""

from __future__ import annotations

import functools
import logging
import netrc
import os
import socket
import threading
from urllib.parse import urlsplit

from hydra.utils import instantiate
from lightning.pytorch.loggers import Logger
from omegaconf import DictConfig, OmegaConf

from vangogh_lightning.errors import UserError

log = logging.getLogger(__name__)

PROBE_SECONDS = 3.0


def wandb_credentials_available() -> bool:
    """True when an API key is in the environment or in ~/.netrc for api.wandb.ai."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    if os.environ.get("WANDB_MODE", "").lower() in ("offline", "disabled", "dryrun"):
        return False
    try:
        return netrc.netrc().authenticators(wandb_host()[0]) is not None
    except (FileNotFoundError, netrc.NetrcParseError, OSError):
        return False


def wandb_host() -> tuple[str, int]:
    """(host, port) of the W&B server: ``WANDB_BASE_URL`` or api.wandb.ai."""
    url = urlsplit(os.environ.get("WANDB_BASE_URL") or "https://api.wandb.ai")
    return url.hostname or "api.wandb.ai", url.port or (80 if url.scheme == "http" else 443)


@functools.lru_cache(maxsize=8)  # one probe per process, not one per fold
def reachable(host: str, port: int, timeout: float = PROBE_SECONDS) -> bool:
    """True when a TCP connection to host:port opens within ``timeout`` seconds (name lookup included)."""
    result: list[bool] = []

    def probe() -> None:
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            result.append(True)
        except OSError:
            result.append(False)

    # A thread, because name resolution itself has no timeout.
    worker = threading.Thread(target=probe, daemon=True)
    worker.start()
    worker.join(timeout)
    return bool(result and result[0])


def check_wandb_key() -> None:
    """A malformed ``WANDB_API_KEY`` is one line naming the variable (never the key itself)."""
    key = os.environ.get("WANDB_API_KEY")
    if key is None:
        return
    try:
        from wandb.sdk.lib.wbauth.validation import check_api_key
    except ImportError:  # another wandb version: leave the format to wandb itself
        return
    problem = check_api_key(key.strip())
    if problem is not None:
        raise UserError(
            f"WANDB_API_KEY: not a valid W&B API key ({problem.rstrip('.')}); copy it again from your W&B "
            "settings page, or unset it to log offline"
        )


def resolve_wandb_offline(setting: bool | str) -> bool:
    """``logger.wandb.offline``: auto = offline without credentials or without a reachable server.

    Decided in seconds, so a machine without network never stalls on W&B; ``false`` (force online)
    with an unreachable server is a one-line error instead of a long stall and a traceback.
    """
    if setting not in ("auto", True, False):
        raise UserError(f"logger.wandb.offline={setting}: must be auto, true or false")
    if setting is True:
        return True
    check_wandb_key()
    if setting == "auto" and not wandb_credentials_available():
        log.info("W&B: no credentials found, logging offline (sync later with `wandb sync`)")
        return True
    host, port = wandb_host()
    if reachable(host, port):
        return False
    if setting == "auto":
        print(f"note: W&B server {host} cannot be reached; logging offline (upload later with `wandb sync`)")
        return True
    raise UserError(
        f"logger.wandb.offline=false: the W&B server {host}:{port} cannot be reached within {PROBE_SECONDS:g} s; "
        "check the network (or WANDB_BASE_URL), or set logger.wandb.offline=auto to log offline and sync later"
    )


def is_wandb_entry(entry) -> bool:
    """True for a logger config entry (or its plain-dict form) that instantiates a WandbLogger."""
    return entry is not None and str(entry.get("_target_", "")).endswith("WandbLogger")


def uses_wandb(logger_cfg: DictConfig | None) -> bool:
    """True when one of the configured loggers is a WandbLogger."""
    return any(is_wandb_entry(entry) for entry in (logger_cfg or {}).values())


def build_loggers(logger_cfg: DictConfig | None, group: str, tags: list[str] | None = None,
                  run_id: str | None = None, wandb_overrides: dict | None = None) -> list[Logger]:
    """One logger per entry of ``cfg.logger``, as configured (folders come from ``paths.fold_dir``).

    Only W&B gets more: the run's group and tags, offline when no server can be reached, and
    ``run_id`` so a fold continued from its last checkpoint resumes the same W&B run.
    """
    loggers: list[Logger] = []
    for key, entry in (logger_cfg or {}).items():
        if entry is None:
            continue
        if is_wandb_entry(entry):
            entry = OmegaConf.to_container(entry, resolve=True)
            entry["offline"] = resolve_wandb_offline(entry.get("offline", "auto"))
            entry["tags"] = list(entry.get("tags") or []) + list(tags or [])
            entry["group"] = entry.get("group") or group
            if run_id is not None:
                entry.update(id=run_id, resume="allow")
            entry.update(wandb_overrides or {})
        log.debug("logger %s -> %s", key, entry.get("_target_"))
        loggers.append(instantiate(entry))
    return loggers


def finish_wandb(loggers: list[Logger]) -> None:
    """Close W&B runs so the next fold starts a new run in the same group."""
    for logger in loggers:
        if type(logger).__name__ == "WandbLogger":
            import wandb

            wandb.finish()


def log_group_summary(logger_cfg: DictConfig | None, group: str, name: str, save_dir: str,
                      summary: dict, config: dict | None = None) -> None:
    """One extra W&B run in ``group`` (job type ``cv``) whose summary holds the group's figures.

    W&B has no group-level summary; this run is where the dashboard's runs table finds the
    cross-validation mean and std of a run's folds. Nothing happens without a W&B logger.
    """
    if not uses_wandb(logger_cfg):
        return
    resolved = OmegaConf.to_container(logger_cfg, resolve=True)
    wandb_only = OmegaConf.create({k: v for k, v in resolved.items() if is_wandb_entry(v)})
    loggers = build_loggers(wandb_only, group=group, tags=["cv"],
                            wandb_overrides={"name": name, "job_type": "cv", "save_dir": save_dir})
    for logger in loggers:
        if config:
            logger.log_hyperparams(config)
        logger.experiment.summary.update(summary)
    finish_wandb(loggers)
