"""Checks of the world a config points at that belong to no single key, before any work: the output
folder is writable, a command into a training run keeps its settings, a study's overrides hold no
password. (Input files are checked by their fields' types in ``schema``.) Nothing here imports torch."""

from __future__ import annotations

import os
from pathlib import Path

from omegaconf import DictConfig

from vangogh_lightning.config.run_record import check_resume, hydra_record_dir
from vangogh_lightning.core.atomic import write_problem
from vangogh_lightning.core.errors import UserError
from vangogh_lightning.core.hydra_run import in_multirun
from vangogh_lightning.core.images import set_max_pixels
from vangogh_lightning.core.secret_urls import storage_password_problem, storage_without_secrets


def check_output_dir(path: str | Path, key: str) -> Path:
    """Create ``path`` if needed and prove it is writable (a real write: root ignores mode bits)."""
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise UserError(f"{key}={path}: is a file, not a folder; choose a folder for the outputs")
    if (problem := write_problem(path)) is not None:
        raise UserError(f"{key}={path}: cannot write there ({problem}); choose a writable folder")
    return path


def preflight(cfg: DictConfig, script: str) -> None:
    """Set the process-wide image pixel limit from ``max_image_pixels``; check ``script``'s output folder
    is writable, a study's overrides and a command into an existing training run."""
    set_max_pixels(cfg.max_image_pixels)
    for key in ("search_overrides", "train_overrides") if script == "study" else ():
        for item in cfg.get(key) or []:
            name, _, value = str(item).partition("=")
            problem = storage_password_problem(value) if name.lstrip("+~") == "hydra.sweeper.storage" else None
            if problem is None:
                continue
            folder = hydra_record_dir()  # (Hydra saved the password in .hydra/ before the task began)
            for saved in folder.glob("*.yaml") if folder else []:
                saved.write_text(saved.read_text().replace(value, storage_without_secrets(value)[0]))
            raise UserError(f"{key}: {problem}")
    if script != "train":
        check_output_dir(cfg.out_dir, "out_dir")
        return
    check_output_dir(cfg.paths.output_dir, "hydra.run.dir")
    if not in_multirun() and os.environ.get("LOCAL_RANK", "0") == "0":  # (a sweep's jobs each have a new folder)
        check_resume(cfg)
