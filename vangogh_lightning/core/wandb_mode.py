"""Whether W&B logs online or offline: credentials, a reachable server, a well-formed key.

Decided in seconds, so a machine without network never stalls on W&B."""

from __future__ import annotations

import contextlib
import functools
import logging
import netrc
import os
import socket
import threading
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from vangogh_lightning.core.errors import UserError

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
def reachable(host: str, port: int) -> bool:
    """True when a TCP connection to host:port opens within ``PROBE_SECONDS`` (name lookup included)."""
    result: list[bool] = []

    def probe() -> None:
        with contextlib.suppress(OSError):
            socket.create_connection((host, port), timeout=PROBE_SECONDS).close()
            result.append(True)

    # A thread, because name resolution itself has no timeout.
    worker = threading.Thread(target=probe, daemon=True)
    worker.start()
    worker.join(PROBE_SECONDS)
    return bool(result)


def check_wandb_key() -> None:
    """A malformed ``WANDB_API_KEY`` is one line naming the variable (never the key itself)."""
    key = os.environ.get("WANDB_API_KEY")
    if key is None:
        return
    # wandb's public check, wandb.login(verify=True), asks the server; this format check (a private
    # module of wandb) needs no network. Another wandb version without it leaves the format to wandb.
    try:
        from wandb.sdk.lib.wbauth.validation import check_api_key
    except ImportError:
        return
    if (problem := check_api_key(key.strip())) is not None:
        raise UserError(f"WANDB_API_KEY: not a valid W&B API key ({problem.rstrip('.')}); copy it again from your W&B "
                        "settings page, or unset it to log offline")


def resolve_wandb_offline(setting: bool | str) -> bool:
    """``logger.wandb.offline`` (auto, true or false; checked with the config): auto = offline without
    credentials or without a reachable server; ``false`` (force online) with an unreachable server is
    a one-line error instead of a long stall and a traceback."""
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


def is_wandb_entry(entry: Mapping[str, Any] | None) -> bool:
    """True for a logger config entry (or its plain-dict form) whose ``_target_`` is a WandbLogger class
    or subclass (imported only when asked)."""
    if entry is None or not entry.get("_target_"):
        return False
    from hydra.utils import get_class
    from lightning.pytorch.loggers import WandbLogger

    try:
        target = get_class(str(entry["_target_"]))
    except Exception:  # noqa: BLE001 - a target that does not import is not W&B (instantiate reports it)
        return False
    return issubclass(target, WandbLogger)


def uses_wandb(logger_cfg: Mapping[str, Any] | None) -> bool:
    """True when one of the configured loggers is a WandbLogger."""
    return any(is_wandb_entry(entry) for entry in (logger_cfg or {}).values())
