"""The selected fold's checkpoint at a stable path, weights only."""

from __future__ import annotations

import shutil
from pathlib import Path

import torch

from vangogh_lightning.core.atomic import atomic_link, atomic_write, remove_stale_temps
from vangogh_lightning.core.torch_files import load_torch_file


def write_selected(source: Path, target: Path, link: bool) -> str:
    """The selected checkpoint at a stable path, weights only; returns how it was written."""
    remove_stale_temps(target.parent)  # left by an interrupted earlier selection
    if link:
        atomic_link(source, target, symbolic=True)
        return "symlink"
    raw = load_torch_file(source, "task.runs", "checkpoint", mmap=True)
    heavy = ("optimizer_states", "lr_schedulers", "callbacks")
    if any(k in raw for k in heavy):  # a full checkpoint (older runs): keep the weights only
        slim = {k: v for k, v in raw.items() if k not in heavy}
        atomic_write(target, lambda tmp: torch.save(slim, tmp))
        return "weights-only copy"
    try:  # already weights only: a hard link costs no disk and survives deleting the run
        atomic_link(source, target, symbolic=False)
        return "hard link"
    except OSError:
        atomic_write(target, lambda tmp: shutil.copyfile(source, tmp))
        return "copy"
