"""Train the Van Gogh classifier: `python train.py model=alexnet fold=3`."""

import hydra
from omegaconf import DictConfig

from vangogh_lightning.config.entry import check_command_line, run_task


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> float:
    return run_task("vangogh_lightning.training.cross_validation:train", cfg, script="train")


if __name__ == "__main__":
    check_command_line()
    main()
