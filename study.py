"""The whole study, resumable: `python study.py content=photos/ [search=true] [scale=quick]`."""

import hydra
from omegaconf import DictConfig

from vangogh_lightning.config.entry import check_command_line, run_task


@hydra.main(version_base="1.3", config_path="conf", config_name="study")
def main(cfg: DictConfig) -> None:
    run_task("vangogh_lightning.study.pipeline:run_study", cfg, script="study")


if __name__ == "__main__":
    check_command_line()
    main()
