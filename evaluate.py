"""Evaluate: `python evaluate.py task=select_folds|classify|deception ...` (see README)."""

import hydra
from omegaconf import DictConfig

from vangogh_lightning.config.entry import check_command_line, run_task


@hydra.main(version_base="1.3", config_path="conf", config_name="evaluate")
def main(cfg: DictConfig) -> None:
    run_task("vangogh_lightning.evaluation.tasks:evaluate", cfg, script="evaluate")


if __name__ == "__main__":
    check_command_line()
    main()
