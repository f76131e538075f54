"""The validation metrics' names and which direction is better (no torch: read by tables and pages)."""

from vangogh_lightning.config.schema import MetricName, choices

METRICS = choices(MetricName)  # in the order tables show them
METRIC_MODES = {name: "min" if name == "val/loss" else "max" for name in METRICS}
