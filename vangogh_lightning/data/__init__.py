"""Data: WikiArt/folder/synthetic indexes, folds, transforms and the LightningDataModule."""

from __future__ import annotations

from typing import Any

__all__ = ["VanGoghDataModule"]


def __getattr__(name: str) -> Any:
    # Lazy: the config checks use data.folds before any work, and must not wait for Lightning.
    if name == "VanGoghDataModule":
        from vangogh_lightning.data.datamodule import VanGoghDataModule

        return VanGoghDataModule
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
