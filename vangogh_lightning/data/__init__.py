"""Data: WikiArt/folder/synthetic indexes, folds, transforms and the LightningDataModule."""

from vangogh_lightning.data.datamodule import VanGoghDataModule

__all__ = ["VanGoghDataModule"]
