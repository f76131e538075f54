"""Resuming: a fold killed mid-training continues from last.ckpt and ends as an uninterrupted run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.conftest import ROOT

ARGS = ["experiment=synthetic_smoke", "fold=0", "data.num_folds=2", "data.synthetic_count=32",
        "data.image_size=64", "trainer.max_epochs=3", "callbacks.early_stopping=null",
        "trainer.enable_progress_bar=false", "trainer.enable_model_summary=false", "seed=7",
        "checkpoints.keep_last=true"]  # kept after the fold finishes, to compare the final states


def run_train(run_dir: Path, *extra: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "train.py", *ARGS, f"hydra.run.dir={run_dir}", *extra]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)


def weights(run_dir: Path) -> dict[str, torch.Tensor]:
    ckpt = torch.load(run_dir / "fold_0" / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    return ckpt["state_dict"]


@pytest.mark.slow
def test_killed_run_resumes_from_last_checkpoint_to_the_uninterrupted_result(tmp_path):
    straight = run_train(tmp_path / "straight")
    assert straight.returncode == 0, straight.stderr[-2000:]

    killed = run_train(tmp_path / "killed", "+callbacks.kill._target_=tests.helpers.kill.KillAtEpochStart",
                       "+callbacks.kill.epoch=2")
    assert killed.returncode == -9  # SIGKILL at the start of the third epoch
    fold = tmp_path / "killed" / "fold_0"
    assert (fold / "checkpoints" / "last.ckpt").is_file() and not (fold / "summary.json").exists()
    assert not list(fold.rglob("*.tmp"))  # no half-written checkpoint left behind

    again = run_train(tmp_path / "killed")
    assert again.returncode == 2 and "pass ckpt_path=last" in again.stderr

    resumed = run_train(tmp_path / "killed", "ckpt_path=last")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    a, b = weights(tmp_path / "straight"), weights(tmp_path / "killed")
    assert a.keys() == b.keys()
    for key in a:
        assert torch.allclose(a[key], b[key], atol=1e-6), key
    s1 = json.loads((tmp_path / "straight" / "fold_0" / "summary.json").read_text())
    s2 = json.loads((fold / "summary.json").read_text())
    assert s1["best_score"] == pytest.approx(s2["best_score"]) and s2["epochs"] == s1["epochs"]
    # metrics of the epochs before the kill are kept next to the resumed ones
    assert len(list(fold.glob("csv/version_*/metrics.csv"))) == 2


def test_a_sigterm_ends_the_run_with_its_status_and_the_resume_command(tmp_path):
    run = tmp_path / "run"
    # sent as epoch 0 starts: Lightning finishes that epoch (its checkpoints are written), then stops
    stopped = run_train(run, "+callbacks.kill._target_=tests.helpers.kill.KillAtEpochStart", "+callbacks.kill.epoch=0",
                        "+callbacks.kill.signal_name=SIGTERM")
    assert stopped.returncode == 143  # 128 + SIGTERM, as a shell reports it; before: 0, without a word
    assert stopped.stderr.strip().splitlines()[-1] == (
        f"error: fold 0 stopped by SIGTERM after 1 finished epoch(s); resume it with ckpt_path=last "
        f"hydra.run.dir={run}")
    fold = run / "fold_0"
    assert (fold / "checkpoints" / "last.ckpt").is_file() and not (fold / "summary.json").exists()
