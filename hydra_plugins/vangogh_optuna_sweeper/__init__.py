"""Hydra sweeper plugin: the Optuna sweeper plus pruning (see ``pruning_sweeper``)."""
