"""Evaluate: `python evaluate.py task=select_folds|classify|deception ...` (see README)."""

import hydra
from omegaconf import DictConfig

from vangogh_lightning.cli import run_task
from vangogh_lightning.evaluation.run import evaluate


@hydra.main(version_base="1.3", config_path="conf", config_name="evaluate")
def main(cfg: DictConfig) -> None:
    run_task(evaluate, cfg)


if __name__ == "__main__":
    main()
