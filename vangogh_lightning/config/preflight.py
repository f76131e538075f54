"""Checks of the world a config points at, before any work: input files exist, output folders are writable.

What the files hold is checked where they are read. Nothing here imports torch or Lightning.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from omegaconf import DictConfig

from vangogh_lightning.core.errors import UserError
from vangogh_lightning.core.images import expand_images, set_max_pixels
from vangogh_lightning.core.secret_urls import storage_password_problem, storage_without_secrets
from vangogh_lightning.core.torch_files import require_file


def check_output_dir(path: str | Path, key: str) -> Path:
    """Create ``path`` if needed and prove it is writable (a real write: root ignores mode bits)."""
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise UserError(f"{key}={path}: is a file, not a folder; choose a folder for the outputs")
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=path, prefix=".write-test-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise UserError(f"{key}={path}: cannot write there ({exc.strerror or exc}); choose a writable folder") from None
    return path


def check_csv_path(csv_path: str | Path) -> Path:
    """The WikiArt ``classes.csv`` exists (its content is checked when it is read)."""
    return require_file(csv_path, "data.csv_path", "file", "point it at WikiArt's classes.csv")


def _train(cfg: DictConfig) -> None:
    if cfg.data.source == "wikiart":
        check_csv_path(cfg.data.csv_path)
    if cfg.get("ckpt_path") not in (None, "last"):
        require_file(cfg.ckpt_path, "ckpt_path", "checkpoint")
    check_output_dir(cfg.paths.output_dir, "hydra.run.dir")
    from vangogh_lightning.config.entry import in_multirun
    from vangogh_lightning.training.run_settings import check_resume

    if not in_multirun() and os.environ.get("LOCAL_RANK", "0") == "0":  # (a sweep's jobs each have a new folder)
        check_resume(cfg)


def _stylize(cfg: DictConfig) -> None:
    for key in ("content", "style"):
        if cfg.get(key) is not None:
            expand_images(cfg[key], what=key)
    if cfg.get("judge") is not None:
        require_file(cfg.judge, "judge", "checkpoint")
    check_output_dir(cfg.out_dir, "out_dir")


def _evaluate(cfg: DictConfig) -> None:
    task = cfg.task
    if task.name == "test" and task.get("checkpoint") is not None:
        require_file(task.checkpoint, "task.checkpoint", "checkpoint")
    if task.name == "classify":
        if task.get("checkpoint") is not None:
            require_file(task.checkpoint, "task.checkpoint", "checkpoint")
        if task.get("images") is not None:
            expand_images(task.images, what="task.images")
    elif task.name == "deception":
        for backbone, path in (task.get("classifiers") or {}).items():
            if path is not None:
                require_file(path, f"task.classifiers.{backbone}", "checkpoint")
    check_output_dir(cfg.out_dir, "out_dir")


def _study(cfg: DictConfig) -> None:
    for key in ("search_overrides", "train_overrides"):
        for item in cfg.get(key) or []:
            name, _, value = str(item).partition("=")
            problem = storage_password_problem(value) if name.lstrip("+~") == "hydra.sweeper.storage" else None
            if problem is not None:
                _forget_in_run_record(value, storage_without_secrets(value)[0])
                raise UserError(f"{key}: {problem}")
    check_output_dir(cfg.out_dir, "out_dir")


def _forget_in_run_record(secret: str, replacement: str) -> None:
    """Replace ``secret`` in the files Hydra saved for this run (``.hydra/``) before the task began."""
    from hydra.core.hydra_config import HydraConfig

    try:
        hydra_cfg = HydraConfig.get()
    except ValueError:  # called outside a Hydra run: nothing was saved
        return
    if not hydra_cfg.output_subdir:
        return
    for saved in (Path(hydra_cfg.runtime.output_dir) / hydra_cfg.output_subdir).glob("*.yaml"):
        text = saved.read_text()
        if secret in text:
            saved.write_text(text.replace(secret, replacement))


PREFLIGHT: dict[str, Callable[[DictConfig], None]] = {"train": _train, "stylize": _stylize, "evaluate": _evaluate,
                                                      "study": _study}


def preflight(cfg: DictConfig, script: str) -> None:
    """The input files ``script``'s config names exist, its output folder is writable, and the
    process-wide image pixel limit is set from ``max_image_pixels``."""
    set_max_pixels(cfg.max_image_pixels)
    PREFLIGHT[script](cfg)
