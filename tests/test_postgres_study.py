"""Two sweep processes share one Optuna study on a real PostgreSQL server on loopback."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, SMALL_CHECKPOINTS

pytest.importorskip("psycopg2", reason="psycopg2 is not installed (pip install -e '.[scale]')")
if shutil.which("initdb") is None or shutil.which("pg_ctl") is None:
    pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed", allow_module_level=True)

TINY = ["experiment=synthetic_smoke", "model=alexnet", "fold=0", "data.synthetic_count=24",
        "data.num_folds=2", "trainer.max_epochs=1", "trainer.enable_progress_bar=false",
        "trainer.enable_model_summary=false", "hydra.sweeper.n_jobs=1", *SMALL_CHECKPOINTS]


def _as_postgres(cmd: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root.
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def postgres():
    # Not under pytest's tmp folders: those are private to root, and the server runs as postgres.
    base = Path(tempfile.mkdtemp(prefix="vangogh-pg-"))
    data, sock = base / "data", base / "sock"
    sock.mkdir()
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
        shutil.chown(sock, "postgres")
        os.chmod(base, 0o755)
    port = _free_port()
    subprocess.run(_as_postgres(["initdb", "-D", str(data), "-U", "postgres", "--auth=trust"]),
                   check=True, capture_output=True)
    opts = f"-p {port} -k {sock} -c listen_addresses=127.0.0.1"
    subprocess.run(_as_postgres(["pg_ctl", "-D", str(data), "-o", opts, "-w", "-l", str(base / "log"),
                                 "start"]), check=True, capture_output=True)
    try:
        subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-c",
                        "CREATE DATABASE optuna"], check=True, capture_output=True)
        yield f"postgresql://postgres@127.0.0.1:{port}/optuna"
    finally:
        subprocess.run(_as_postgres(["pg_ctl", "-D", str(data), "-m", "immediate", "stop"]), capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.e2e
def test_two_sweeps_on_one_postgres_study_record_every_trial_once(postgres, tmp_path):
    import optuna

    def start(name: str) -> subprocess.Popen:
        cmd = [sys.executable, "train.py", "-m", "hparams_search=optuna", *TINY, "hydra.sweeper.n_trials=2",
               f"hydra.sweeper.storage={postgres}", "hydra.sweeper.study_name=vangogh",
               f"hydra.sweep.dir={tmp_path / name}",
               f"paths.log_dir={tmp_path / 'logs'}"]
        return subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    first = start("sweep_a")
    deadline = time.time() + 120
    while time.time() < deadline:  # the second worker joins once the first has created the study
        try:
            optuna.load_study(study_name="vangogh", storage=postgres)
            break
        except KeyError:
            time.sleep(1)
    second = start("sweep_b")
    outputs = [p.communicate(timeout=600)[0] for p in (first, second)]
    assert first.returncode == 0 and second.returncode == 0, "\n".join(o[-2000:] for o in outputs)

    study = optuna.load_study(study_name="vangogh", storage=postgres)
    numbers = [t.number for t in study.trials]
    assert sorted(numbers) == [0, 1, 2, 3]
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    # the two shells drew different points (no shared sampler seed replaying the same sequence)
    assert len({tuple(sorted(t.params.items())) for t in study.trials}) == 4
    jobs = [*(tmp_path / "sweep_a").glob("*/cv_summary.json"), *(tmp_path / "sweep_b").glob("*/cv_summary.json")]
    assert len(jobs) == 4
