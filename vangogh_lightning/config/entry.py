"""The one way into a task, for the four scripts and for Python: check the config, then run the task;
errors as one line. The check comes before the task's module (and torch) is imported, so ``--help`` and a
bad value answer in about a second; task functions called directly trust their config."""

from __future__ import annotations

import logging
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.errors import HydraException, OverrideParseException
from hydra.types import RunMode
from hydra.utils import get_method
from omegaconf import DictConfig

from vangogh_lightning.config.overrides import quote_list, quote_value
from vangogh_lightning.core.atomic import disk_full, no_space_error
from vangogh_lightning.core.console import apply_extras, tidy_library_output
from vangogh_lightning.core.errors import UserError
from vangogh_lightning.core.hydra_run import in_multirun

log = logging.getLogger(__name__)


def user_error_in(exc: BaseException) -> UserError | None:
    """The UserError behind ``exc`` (hydra.utils.instantiate wraps errors raised in constructors)."""
    while exc is not None:
        if isinstance(exc, UserError):
            return exc
        exc = exc.__cause__
    return None


def check_script_config(cfg: DictConfig, script: str) -> None:
    """Every key of ``script`` (train, stylize, evaluate or study) against its schema (the keys that are
    only wrong together and the input files it names included), then :func:`~.preflight.preflight`."""
    from vangogh_lightning.config.preflight import preflight  # (not at import: --help needs neither)
    from vangogh_lightning.config.schema import check_config

    check_config(cfg, script)
    preflight(cfg, script)


def check_command_line(argv: list[str] | None = None) -> None:
    """Each ``key=value`` of the command line parses as a Hydra override; the first that does not is
    one line saying how to quote it (Hydra's own message names its lexer, not the fix). Call before
    the ``@hydra.main`` function."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    args = sys.argv[1:] if argv is None else argv
    fdr = next((a for a in args if a.lstrip("+~") in ("debug=fdr", "trainer.fast_dev_run=true")), None)
    if fdr and {"-m", "--multirun"} & set(args):
        print(f"error: {fdr}: Lightning's fast_dev_run records no result (no score, no summary), so a sweep has "
              "nothing to compare; run it without -m", file=sys.stderr)
        sys.exit(2)
    parser = OverridesParser.create()
    for arg in args:
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


def remove_unused_run_folder() -> None:
    """Delete this command's Hydra run folder when it holds nothing but Hydra's record, its log and a
    lock: a refused command leaves no run folder that looks like a run."""
    if not HydraConfig.initialized() or HydraConfig.get().mode != RunMode.RUN:
        return
    folder = Path(HydraConfig.get().runtime.output_dir)
    entries = list(folder.iterdir()) if folder.is_dir() else []
    if entries and all(e.name in (".hydra", ".lock") or (e.suffix == ".log" and e.is_file()) for e in entries):
        shutil.rmtree(folder, ignore_errors=True)


def run_task(task: str | Callable[[DictConfig], Any], cfg: DictConfig, script: str) -> Any:
    """Check ``cfg`` as ``script``'s config, then run ``task`` (a function or ``"module:function"``,
    imported only now). A :class:`UserError` becomes one line on stderr and exit status 2 (its empty
    run folder removed); Ctrl-C one line with the way to go on and status 130."""
    try:
        check_script_config(cfg, script)
        if isinstance(task, str):
            task = get_method(task.replace(":", "."))
        tidy_library_output()
        apply_extras(cfg)
        return task(cfg)
    except KeyboardInterrupt:
        if in_multirun():
            raise
        from vangogh_lightning.config.run_record import resume_command

        then = (f"resume it with: {resume_command(cfg.paths.output_dir)}" if script == "train" else
                "run the same command again: finished outputs are kept and reused")
        print(f"error: interrupted (Ctrl-C); {then}", file=sys.stderr, flush=True)
        sys.exit(130)
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
        remove_unused_run_folder()
        sys.exit(2)
