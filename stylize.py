"""Stylize photos in Van Gogh's style: `python stylize.py content=cat.jpg backbone=vgg19`."""

import hydra
from omegaconf import DictConfig

from vangogh_lightning.config.entry import check_command_line, run_task


@hydra.main(version_base="1.3", config_path="conf", config_name="stylize")
def main(cfg: DictConfig) -> None:
    run_task("vangogh_lightning.style.task:stylize", cfg, script="stylize")


if __name__ == "__main__":
    check_command_line()
    main()
