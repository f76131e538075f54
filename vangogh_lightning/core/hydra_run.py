"""The Hydra run this process is part of, if any (no torch)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, read_write


def in_multirun() -> bool:
    """True inside a Hydra multirun job (sweeps need exceptions to mark trials failed)."""
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


class RecordWithOutputs(Callback):
    """Hydra's record (``.hydra/``, the log) with the outputs, for the scripts whose ``hydra.run.dir`` is
    ``${out_dir}``. ``hydra.run.dir=<folder>`` alone still puts the outputs there too; a folder that cannot
    be made keeps the record in ``paths.output_dir``, and the config check says in one line what is wrong
    (Hydra would end in a traceback)."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        given = {o.split("=", 1)[0].lstrip("+~") for o in [*config.hydra.overrides.task, *config.hydra.overrides.hydra]}
        with read_write(config):
            if "hydra.run.dir" in given and "out_dir" not in given:
                config.out_dir = config.hydra.run.dir
            folder = Path(config.hydra.run.dir).expanduser()  # (Hydra would make a folder named "~")
            try:
                folder.mkdir(parents=True, exist_ok=True)
                config.hydra.run.dir = str(folder)
            except OSError:
                config.hydra.run.dir = config.paths.output_dir
