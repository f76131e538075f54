"""The Optuna sweeper of hydra-optuna-sweeper 1.3, able to prune (details in ``_impl``).

Kept light: Hydra imports every plugin module at start, so optuna is imported only when a sweep
is set up.
"""

from __future__ import annotations

from typing import Any

from hydra_plugins.hydra_optuna_sweeper.optuna_sweeper import OptunaSweeper


class PruningOptunaSweeper(OptunaSweeper):
    """``hydra/sweeper: optuna`` with ``_target_`` pointing here (conf/hparams_search/optuna.yaml).

    The stock class only builds its implementation and forwards ``setup`` and ``sweep`` to it; this
    one builds the pruning implementation with the same arguments instead.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:  # noqa: D107 - no super().__init__: it builds the stock impl
        from hydra_plugins.vangogh_optuna_sweeper._impl import PruningSweeperImpl

        self.sweeper = PruningSweeperImpl(*args, **kwargs)
