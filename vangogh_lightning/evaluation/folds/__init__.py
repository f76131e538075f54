"""Cross-validation folds (``task=select_folds``, ``task=dashboard``): find them, select one per
backbone, show them in W&B."""
