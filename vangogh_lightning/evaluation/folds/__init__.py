"""Cross-validation folds (``task=select_folds``, ``task=dashboard``): find, select, show in W&B."""
