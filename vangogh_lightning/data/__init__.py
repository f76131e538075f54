"""Data: WikiArt/folder/synthetic indexes, folds, transforms, caches, the data record and the LightningDataModule."""
