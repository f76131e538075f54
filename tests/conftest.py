"""Shared fixtures: Hydra composition, generated data, one tiny cross-validation run."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, open_dict

import vangogh_lightning  # noqa: F401 - registers the config resolvers, as the scripts' imports do

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"
SHARED = ROOT.parent / "shared" / "data"

os.environ.setdefault("WANDB_MODE", "offline")
# The index-validation cache goes to a throw-away folder, not the user's ~/.cache.
os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="vangogh-test-cache-")
os.environ.setdefault("WANDB_SILENT", "true")


def compose_cfg(config_name: str, overrides: list[str], out_dir: Path | None = None,
                with_hydra: bool = False) -> DictConfig:
    """Compose a config like the scripts do, with the run folder pointed at ``out_dir``."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name=config_name, overrides=overrides, return_hydra_config=with_hydra)
    if out_dir is not None:
        with open_dict(cfg):
            cfg.paths.output_dir = str(out_dir)
            cfg.paths.log_dir = str(out_dir / "logs")
    return cfg


TINY_TRAIN = [
    "experiment=synthetic_smoke",
    "data.synthetic_count=120",
    "data.image_size=64",
    "data.synthetic_render_size=72",
    "trainer.max_epochs=3",
    "trainer.enable_progress_bar=false",
    "trainer.enable_model_summary=false",
]


@pytest.fixture
def shared_data() -> Path:
    """../shared/data, or skip when it is absent."""
    if not SHARED.is_dir():
        pytest.skip("../shared/data is not present")
    return SHARED


@pytest.fixture(scope="session")
def cv_run(tmp_path_factory) -> Path:
    """Two trained folds of AlexNet on synthetic data (reused by training and evaluation tests)."""
    from vangogh_lightning.training.cross_validation import train

    out = tmp_path_factory.mktemp("cv_run")
    for fold in (0, 1):
        cfg = compose_cfg("train", [*TINY_TRAIN, "data.num_folds=4", f"fold={fold}"], out / f"job{fold}")
        train(cfg)
    return out
