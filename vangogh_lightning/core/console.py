"""What the scripts print: each line once, and nothing a user of this product cannot act on.

Lightning gives its loggers their own console handler while Hydra already sends every logger to
the console and the job's log file, so each Lightning line came twice (``INFO: ...`` and again in
Hydra's format). It also advertises another product's logger at every fit, and torch's pytree
deprecation (inside Lightning) warns at every run."""

from __future__ import annotations

import logging
import warnings
from typing import Any


def _no_advertisement(record: logging.LogRecord) -> bool:
    return not str(record.msg).startswith("💡 Tip:")  # Lightning's "try installing litlogger" line


def tidy_library_output() -> None:
    """Each Lightning line once, through Hydra's handlers; no advertisement; no pytree deprecation warning.

    Call after Lightning is imported, in a script whose logging Hydra configured."""
    if not logging.getLogger().handlers:  # not under Hydra (a notebook, a test): Lightning's handler is the only one
        return
    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            if type(handler) is logging.StreamHandler:
                logger.removeHandler(handler)
        logger.propagate = True
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero"):
        logging.getLogger(name).addFilter(_no_advertisement)  # (addFilter skips a filter it holds: once per sweep)
    warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated")


def rank_zero_print(*args: Any, **kwargs: Any) -> None:
    """``print`` in the process of rank 0 only: each DDP rank runs the script, the console shows one copy."""
    from lightning.fabric.utilities.rank_zero import rank_zero_only

    rank_zero_only(print)(*args, **kwargs)


def apply_extras(cfg: Any) -> None:
    """``extras.ignore_warnings``: silence Python warnings; ``extras.print_config``: print the resolved
    config (Hydra's own section left out) as a YAML tree."""
    from omegaconf import OmegaConf

    extras = (cfg.get("extras") if cfg is not None else None) or {}
    if extras.get("ignore_warnings"):
        warnings.filterwarnings("ignore")
    if extras.get("print_config"):
        tree = {k: v for k, v in OmegaConf.to_container(cfg, resolve=True).items() if k != "hydra"}
        print("== resolved config ==\n" + OmegaConf.to_yaml(tree).rstrip(), flush=True)
