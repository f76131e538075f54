"""Evaluation by task (folds, scoring, table_one, evidence, plots); ``tasks`` dispatches ``evaluate.py``."""
