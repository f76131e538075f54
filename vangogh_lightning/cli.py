"""Shared glue for the three thin scripts: one-line errors, multirun-aware."""

from __future__ import annotations

import importlib
import logging
import sys
from collections.abc import Callable
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from vangogh_lightning.errors import UserError

log = logging.getLogger(__name__)


def in_multirun() -> bool:
    """True inside a Hydra multirun job (sweeps need exceptions to mark trials failed)."""
    try:
        return HydraConfig.get().mode == RunMode.MULTIRUN
    except ValueError:
        return False


def user_error_in(exc: BaseException) -> UserError | None:
    """The UserError behind ``exc`` (hydra.utils.instantiate wraps errors raised in constructors)."""
    while exc is not None:
        if isinstance(exc, UserError):
            return exc
        exc = exc.__cause__
    return None


def run_task(task: str | Callable[[DictConfig], Any], cfg: DictConfig, rules: str | None = None) -> Any:
    """Check ``cfg`` against the script's rule table (``rules``: train, stylize or evaluate), then run
    ``task`` (a function or ``"module:function"``, imported only now: ``--help`` and a bad value
    answer in about a second, before torch is loaded). A :class:`UserError` becomes one line on
    stderr and exit status 2."""
    try:
        if rules is not None:
            from vangogh_lightning.config_checks import check_script_config

            check_script_config(cfg, rules)
        if isinstance(task, str):
            module, name = task.split(":")
            task = getattr(importlib.import_module(module), name)
        return task(cfg)
    except Exception as exc:
        error = user_error_in(exc)
        if error is None:
            raise
        if in_multirun():
            log.error("error: %s", error)
            raise error from None
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
