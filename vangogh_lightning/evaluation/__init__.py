"""Evaluation, by task: ``folds/`` (select_folds, dashboard), ``scoring`` (classify, test), ``table_one/``
(deception), ``evidence`` (Grad-CAM), ``plots``; ``tasks`` dispatches ``evaluate.py``."""
