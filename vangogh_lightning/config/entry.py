"""The entry point the four scripts call: check the config, then run the task; errors as one line.

The check runs once: :func:`run_task` checks before the task's module (and torch) is imported, so
``--help`` and a bad value answer in about a second. A task function is marked with
:func:`checked`, so calling it directly from Python (tests, notebooks) checks its config too.
"""

from __future__ import annotations

import functools
import importlib
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from vangogh_lightning.core.atomic import disk_full, no_space_error
from vangogh_lightning.core.console import tidy_library_output
from vangogh_lightning.core.errors import UserError

log = logging.getLogger(__name__)

Task = TypeVar("Task", bound=Callable[[DictConfig], Any])


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


def check_script_config(cfg: DictConfig, script: str) -> None:
    """Every key of ``script`` (train, stylize, evaluate or study) against its schema, the keys that are
    only wrong together, the input files it names and its output folder."""
    from vangogh_lightning.config.preflight import preflight
    from vangogh_lightning.config.schema import check_config

    check_config(cfg, script)
    preflight(cfg, script)


def checked(script: str) -> Callable[[Task], Task]:
    """Mark a task function as ``script``'s: a direct call checks the config first."""
    def mark(task: Task) -> Task:
        @functools.wraps(task)
        def run(cfg: DictConfig) -> Any:
            check_script_config(cfg, script)
            return task(cfg)
        return run  # type: ignore[return-value]
    return mark


def check_command_line(argv: list[str] | None = None) -> None:
    """Each ``key=value`` of the command line parses as a Hydra override; the first that does not is
    one line saying how to quote it (Hydra's own message names its lexer, not the fix). Call before
    the ``@hydra.main`` function."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException, OverrideParseException

    from vangogh_lightning.config.overrides import quote_list, quote_value

    parser = OverridesParser.create()
    for arg in (sys.argv[1:] if argv is None else argv):
        if arg.startswith("-") or "=" not in arg:
            continue
        try:
            parser.parse_override(arg)
        except (OverrideParseException, HydraException):  # (the lexer's errors are plain HydraExceptions)
            key, _, value = arg.partition("=")
            is_list = value.startswith("[") and value.endswith("]")
            quoted = quote_list(value[1:-1].split(",")) if is_list else quote_value(value)
            print(f"error: {arg}: Hydra cannot read this value (non-ASCII letters, commas, brackets, quotes and "
                  f"= must be quoted{', each item of a list' if is_list else ''}); write it as \"{key}={quoted}\" "
                  "(shell quotes outside, Hydra's inside)", file=sys.stderr)
            sys.exit(2)


def run_task(task: str | Callable[[DictConfig], Any], cfg: DictConfig, script: str) -> Any:
    """Check ``cfg`` as ``script``'s config, then run ``task`` (a function or ``"module:function"``,
    imported only now). A :class:`UserError` becomes one line on stderr and exit status 2."""
    try:
        check_script_config(cfg, script)
        if isinstance(task, str):
            module, name = task.split(":")
            task = getattr(importlib.import_module(module), name)
        tidy_library_output()
        return getattr(task, "__wrapped__", task)(cfg)  # checked above: not again
    except Exception as exc:
        error = user_error_in(exc)
        if error is None and disk_full(exc):  # a library's own write (a logger's CSV, a plot) found no room
            where = getattr(exc, "filename", None)
            error = no_space_error(Path(where), atomic=False) if where else UserError(
                f"no space left on the device ({exc}); free some space or write the outputs elsewhere")
        if error is None:
            raise
        if in_multirun():
            log.error("error: %s", error)
            raise error from None
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
