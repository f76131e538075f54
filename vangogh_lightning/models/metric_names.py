"""The validation metrics' names and which direction is better (no torch: read by tables and pages)."""

# Every validation metric a fold logs and which direction is better, in the order tables show them.
METRIC_MODES = {"val/loss": "min", "val/auroc": "max", "val/f1": "max", "val/acc": "max", "val/bal_acc": "max"}
METRICS = tuple(METRIC_MODES)
