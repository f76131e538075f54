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


def _stylize(cfg: DictConfig) -> None:
    for key in ("content", "style"):
        if cfg.get(key) is not None:
            expand_images(cfg[key], what=key)
    if cfg.get("judge") is not None:
        require_file(cfg.judge, "judge", "checkpoint")
    check_output_dir(cfg.out_dir, "out_dir")


def _evaluate(cfg: DictConfig) -> None:
    task = cfg.task
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
    check_output_dir(cfg.out_dir, "out_dir")


PREFLIGHT: dict[str, Callable[[DictConfig], None]] = {"train": _train, "stylize": _stylize, "evaluate": _evaluate,
                                                      "study": _study}


def preflight(cfg: DictConfig, script: str) -> None:
    """The input files ``script``'s config names exist, its output folder is writable, and the
    process-wide image pixel limit is set from ``max_image_pixels``."""
    set_max_pixels(cfg.max_image_pixels)
    PREFLIGHT[script](cfg)
