"""What a training run was started with, kept in the run folder, and the check that a resume keeps it.

Hydra rewrites ``<run>/.hydra/`` on every command aimed at the run folder, so the run's own record is
``run_settings.json``: the resolved settings and the ``.hydra`` files of the command that started it. A
later command into the folder may change only keys that cannot change results
(:func:`~vangogh_lightning.config.schema.result_neutral`). Nothing here imports torch."""

from __future__ import annotations

import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from vangogh_lightning.config.schema import WHETHER_ON, result_neutral, results_mark
from vangogh_lightning.core.atomic import atomic_write_text
from vangogh_lightning.core.errors import UserError

SETTINGS_FILE = "run_settings.json"
ABSENT = "(absent)"
ANY = object()
# Keys added after runs began recording their settings, each with the value that does what runs from before it
# did: a run started without the key resumes with that value (ANY: the key means nothing then), and a refused
# resume's command sets it.
AS_BEFORE: dict[str, Any] = {"data.feature_cache": False, "data.feature_cache_views": ANY,
                             "data.feature_cache_seed": ANY}


def as_before_overrides(started: dict[str, Any]) -> list[str]:
    """The overrides that give a run recorded without some of :data:`AS_BEFORE`'s keys their old behaviour."""
    def absent(key: str) -> bool:
        section = started
        for part in key.split("."):
            if not isinstance(section, dict) or part not in section:
                return True
            section = section[part]
        return False

    return [f"{key}={json.dumps(value)}" for key, value in AS_BEFORE.items() if value is not ANY and absent(key)]


def settings_tree(cfg: DictConfig) -> dict[str, Any]:
    """Every resolved key of a train config but Hydra's own, as plain JSON values."""
    tree = OmegaConf.to_container(cfg, resolve=True)
    return json.loads(json.dumps({k: v for k, v in tree.items() if k != "hydra"}, default=str))


def result_changes(started: Any, now: Any, prefix: str = "") -> list[tuple[str, Any, Any]]:
    """``(key, value the run started with, value now)`` for each key whose change would change results;
    a section on one side and a value (or nothing) on the other is one change of the section's key."""
    if prefix and result_neutral(prefix):
        return []
    if isinstance(started, dict) and isinstance(now, dict):
        return [change for key in [*started, *(k for k in now if k not in started)]
                for change in result_changes(started.get(key, ABSENT), now.get(key, ABSENT),
                                             f"{prefix}.{key}" if prefix else key)]
    if started is ABSENT and prefix in AS_BEFORE and AS_BEFORE[prefix] in (ANY, now):
        return []
    if ABSENT not in (started, now) and results_mark(prefix) == WHETHER_ON and bool(started) == bool(now):
        return []  # a cache moved to another folder (or back to the default one)
    return [] if started == now else [(prefix, started, now)]


def _shown(value: Any) -> str:
    if isinstance(value, dict):
        return "a section"
    return "null" if value is None else json.dumps(value) if isinstance(value, list) else str(value)


def command_overrides() -> list[str]:
    """The overrides of the command that is running (empty outside a Hydra run)."""
    return list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []


def resume_command(run_dir: str | Path, overrides: list[str] | None = None) -> str:
    """The shell command that continues the run in ``run_dir`` with ``overrides`` (default: this command's)."""
    kept = [o for o in (command_overrides() if overrides is None else overrides)
            if o.split("=", 1)[0].lstrip("+~") not in ("ckpt_path", "hydra.run.dir")]
    words = ["python", "train.py", *kept, "ckpt_path=last", f"hydra.run.dir={run_dir}"]
    return " ".join(shlex.quote(w) for w in words)


def hydra_record_dir() -> Path | None:
    """The folder where Hydra saved this run's config files (``.hydra/``); None outside a Hydra run."""
    if not HydraConfig.initialized() or not HydraConfig.get().output_subdir:
        return None
    return Path(HydraConfig.get().runtime.output_dir) / HydraConfig.get().output_subdir


def check_resume(cfg: DictConfig) -> None:
    """Refuse a command into an existing run folder whose settings would change the run's results, naming
    each key and both values. The run's ``.hydra`` files are put back either way; an allowed difference is
    recorded in the run's settings file."""
    run_dir = Path(cfg.paths.output_dir)
    path = run_dir / SETTINGS_FILE
    if not path.is_file():
        return  # a new run folder, or one older than this record
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise UserError(f"{path}: unreadable ({exc}); it records what the run was started with - restore it, "
                        "or choose a new hydra.run.dir") from None
    folder = hydra_record_dir()
    for name, text in record.get("hydra_files", {}).items() if folder else []:
        atomic_write_text(text, folder / name)
    changes = result_changes(record["settings"], settings_tree(cfg))
    if changes:
        shown = "; ".join(f"{key}={_shown(started)} when started, {_shown(now)} now"
                          for key, started, now in changes[:6])
        more = f" (and {len(changes) - 6} more)" if len(changes) > 6 else ""
        own = [*record.get("overrides", []), *as_before_overrides(record["settings"])]
        raise UserError(
            f"hydra.run.dir={run_dir}: this command would change the run's results: {shown}{more}; resume with "
            f"the run's own settings ({resume_command(run_dir, own)}) or choose a new hydra.run.dir")
    record.setdefault("resumes", []).append({"time": time.strftime("%Y-%m-%d %H:%M:%S"),
                                             "overrides": command_overrides()})
    atomic_write_text(json.dumps(record, indent=2), path)


def record_settings(cfg: DictConfig) -> None:
    """Write ``run_settings.json`` for a run folder that has none yet (its first command)."""
    run_dir = Path(cfg.paths.output_dir)
    if (run_dir / SETTINGS_FILE).exists():
        return
    folder = hydra_record_dir()
    hydra_files = {p.name: p.read_text() for p in sorted(folder.glob("*.yaml"))} if folder and folder.is_dir() else {}
    record = {"started": time.strftime("%Y-%m-%d %H:%M:%S"), "argv": sys.argv, "overrides": command_overrides(),
              "settings": settings_tree(cfg), "hydra_files": hydra_files}
    atomic_write_text(json.dumps(record, indent=2, default=str), run_dir / SETTINGS_FILE)
