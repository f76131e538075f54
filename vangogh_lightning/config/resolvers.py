"""OmegaConf resolvers the configs use; registered when the package is imported (before Hydra composes)."""

from __future__ import annotations

import re
import secrets
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

# One token per process: two runs started in the same second still get different folders.
RUN_TOKEN = secrets.token_hex(3)


def _slug(value: Any) -> str:
    if isinstance(value, (list, tuple)) or OmegaConf.is_list(value):
        return "+".join(_slug(v) for v in value)
    return re.sub(r"[^a-z0-9]+", "_", str(value).lower()).strip("_") or "none"


def study_name(*parts: Any) -> str:
    """``vangogh-<part>-<part>...``: studies of different searches never share trials."""
    return "-".join(["vangogh", *(_slug(p) for p in parts)])


def sampler_seed(seed: int | None, storage: str | None, name: str | None) -> int | None:
    """The sampler's seed for this sweep process.

    ``search.seed=null`` (default): None, a fresh random stream, so re-runs and parallel sweeps draw
    new points. A seed the user sets: that seed plus the number of trials the study already holds,
    so a fresh study replays exactly and a resumed one continues with new points instead of
    repeating its first trials."""
    if seed is None:
        return None
    if not (storage and name):
        return int(seed)
    import optuna

    try:
        return int(seed) + len(optuna.load_study(study_name=name, storage=storage).trials)
    except KeyError:  # no such study yet
        return int(seed)


def hydra_value(key: str) -> Any:
    """``${hydra:key}``, or None outside a Hydra run (a config composed by hand, as the tests do)."""
    from hydra.core.hydra_config import HydraConfig

    return OmegaConf.select(HydraConfig.get(), key) if HydraConfig.initialized() else None


def run_folder(output_dir: str) -> str:
    """The name of this run's folder: in a multirun, the sweep folder's; else ``output_dir``'s."""
    from vangogh_lightning.core.hydra_run import in_multirun

    return Path(str(hydra_value("sweep.dir") if in_multirun() else output_dir)).name


def register() -> None:
    """Register the resolvers once (idempotent)."""
    resolvers = {
        "vg_run_token": (lambda: RUN_TOKEN, True),  # cached: Hydra copies the cache into each job's config
        "vg_study_name": (study_name, False),
        "vg_sampler_seed": (sampler_seed, False),
        "vg_hydra": (hydra_value, False),
        "vg_run_folder": (run_folder, False),
    }
    for name, (func, cache) in resolvers.items():
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, func, use_cache=cache)
