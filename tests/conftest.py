"""Shared fixtures: Hydra composition, scripts run in-process, one tiny cross-validation run for the suite."""

from __future__ import annotations

import atexit
import logging
import os
import runpy
import shutil
import sys
import tempfile
from pathlib import Path

import pytest
from filelock import FileLock
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

import vangogh_lightning  # noqa: F401 - registers the config resolvers, as the scripts' imports do

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"
SHARED = ROOT.parent / "shared" / "data"

os.environ.setdefault("WANDB_MODE", "offline")
# Two xdist workers share the machine's cores: one thread each, and in the processes they start (torch would
# otherwise start a thread per core in every one of them; on 2 cores the suite took 1.5x as long).
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_NUM_THREADS", "1")
# The index-validation cache goes to a throw-away folder, not the user's ~/.cache.
os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="vangogh-test-cache-")
atexit.register(shutil.rmtree, os.environ["XDG_CACHE_HOME"], ignore_errors=True)
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


def run_script(script: str, *args: str) -> int:
    """``python <script> <args>`` run in this process, as the command line runs it (the override check,
    Hydra, the config check, the task); returns its exit status. For promises that are not about the
    process itself: a real subprocess costs seconds of interpreter start and imports."""
    import secrets

    from vangogh_lightning.config import resolvers

    argv, cwd, handlers = sys.argv, os.getcwd(), logging.getLogger().handlers[:]
    sys.argv = [script, *args]
    os.chdir(ROOT)
    resolvers.RUN_TOKEN = secrets.token_hex(3)  # a new process, a new token for its run folders
    try:
        runpy.run_path(str(ROOT / script), run_name="__main__")
        return 0
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    finally:  # as the process would end: no Hydra run, no log handlers on this test's captured streams
        sys.argv = argv
        os.chdir(cwd)
        GlobalHydra.instance().clear()
        HydraConfig.instance().cfg = None
        logging.getLogger().handlers[:] = handlers

# For tests about which checkpoints are written, not what the model learns: only the head of the
# classifier trains, so Adam's state (and each resume point) is a third of AlexNet's usual ~680 MB.
SMALL_CHECKPOINTS = ["model.trainable_classifier_layers=1"]


@pytest.fixture
def shared_data() -> Path:
    """../shared/data, or skip when it is absent."""
    if not SHARED.is_dir():
        pytest.skip("../shared/data is not present")
    return SHARED


TENSORBOARD = ["+logger.tensorboard._target_=lightning.pytorch.loggers.TensorBoardLogger",
               "+logger.tensorboard.save_dir=${paths.fold_dir}", "+logger.tensorboard.name=tensorboard"]
# The suite's one trained run: both folds, a positive-class weight, CSV + TensorBoard + offline W&B.
# No resume points: nothing reads them once the run has finished (tests of resuming train their own runs).
TRAINED_RUN = [*TINY_TRAIN, "data.num_folds=2", "data.batch_size=8", "model.pos_weight=auto", "seed=7", "logger=wandb",
               "tags=[baseline,frozen]", "checkpoints.resume_point=false", *TENSORBOARD]


def built_once(tmp_path_factory: pytest.TempPathFactory, name: str, build) -> Path:
    """``build(folder)`` (it makes the folder) once for the whole suite: the xdist workers share the folder
    through a file lock (a copy per worker would double the suite's disk: these hold checkpoints of ~1 GB)."""
    base = tmp_path_factory.getbasetemp()
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    out, done = root / name, root / f"{name}.done"
    with FileLock(str(root / f"{name}.lock")):
        if not done.is_file():
            shutil.rmtree(out, ignore_errors=True)  # a build that failed in the other worker
            build(out)
            done.touch()
    return out


def copy_linking_checkpoints(src: Path, dst: Path, **copytree_kwargs) -> Path:
    """A copy of a run folder whose ``.ckpt`` files are hard links, not copies: the suite's disk. A test
    that rewrites a checkpoint of the copy must unlink it first (it would change the original)."""
    def copy(source: str, target: str) -> None:
        if source.endswith(".ckpt"):
            os.link(source, target)
        else:
            shutil.copy2(source, target)

    return Path(shutil.copytree(src, dst, copy_function=copy, **copytree_kwargs))


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory) -> Path:
    """Both folds of a tiny AlexNet run (``TRAINED_RUN``), trained once for the whole suite. Tests read
    it; one that changes it works on a copy."""
    def build(out: Path) -> None:
        from vangogh_lightning.training.cross_validation import train

        home = out.parent / "trained_run_home"
        home.mkdir(exist_ok=True)
        with pytest.MonkeyPatch.context() as mp:  # offline W&B, without the user's key or netrc
            mp.delenv("WANDB_API_KEY", raising=False)
            mp.setenv("NETRC", str(home / "no-netrc"))
            mp.setenv("HOME", str(home))
            train(compose_cfg("train", TRAINED_RUN, out))

    return built_once(tmp_path_factory, "trained_run", build)


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook, which reads the mark into the node id
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests of the shared trained run go to one xdist worker (``--dist loadgroup``): the other never
    waits on the run's lock while it trains. xdist hands out groups largest first, two to each worker at
    the start, so only the two expensive fixtures form groups (this one and the quick study): one each."""
    for item in items:
        if "trained_run" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group("trained_run"))
