"""Resuming: a fold killed mid-training continues from last.ckpt and ends as an uninterrupted run."""

from __future__ import annotations

import json
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.conftest import ROOT, SMALL_CHECKPOINTS, run_script

ARGS = ["experiment=synthetic_smoke", "fold=0", "data.num_folds=2", "data.synthetic_count=32",
        "data.image_size=64", "trainer.max_epochs=3", "callbacks.early_stopping=null",
        "trainer.enable_progress_bar=false", "trainer.enable_model_summary=false", "seed=7",
        "checkpoints.keep_last=true",  # kept after the fold finishes, to compare the final states
        *SMALL_CHECKPOINTS]


def _as_in_a_terminal() -> None:
    # A Ctrl-C reaches a foreground process, whose SIGINT is not ignored; a suite started in the
    # background (`make test &`) would hand SIG_IGN down, and the run would never see its SIGINT.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run_train(run_dir: Path, *extra: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "train.py", *ARGS, f"hydra.run.dir={run_dir}", *extra]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600, preexec_fn=_as_in_a_terminal)


def weights(run_dir: Path) -> dict[str, torch.Tensor]:
    ckpt = torch.load(run_dir / "fold_0" / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    return ckpt["state_dict"]


@pytest.mark.e2e
def test_killed_run_resumes_from_last_checkpoint_to_the_uninterrupted_result(tmp_path, capsys):
    # the kill needs a process of its own; the uninterrupted run and the resume run in this one
    assert run_script("train.py", *ARGS, f"hydra.run.dir={tmp_path / 'straight'}") == 0

    killed = run_train(tmp_path / "killed", "+callbacks.kill._target_=tests.helpers.kill.KillAtEpochStart",
                       "+callbacks.kill.epoch=1")
    assert killed.returncode == -9  # SIGKILL at the start of the second of three epochs
    fold = tmp_path / "killed" / "fold_0"
    assert (fold / "checkpoints" / "last.ckpt").is_file() and not (fold / "summary.json").exists()
    assert not list(fold.rglob("*.tmp"))  # no half-written checkpoint left behind

    capsys.readouterr()
    assert run_script("train.py", *ARGS, f"hydra.run.dir={tmp_path / 'killed'}") == 2
    assert "pass ckpt_path=last" in capsys.readouterr().err
    assert run_script("train.py", *ARGS, f"hydra.run.dir={tmp_path / 'killed'}", "ckpt_path=last") == 0
    a, b = weights(tmp_path / "straight"), weights(tmp_path / "killed")
    assert a.keys() == b.keys()
    for key in a:
        assert torch.allclose(a[key], b[key], atol=1e-6), key
    s1 = json.loads((tmp_path / "straight" / "fold_0" / "summary.json").read_text())
    s2 = json.loads((fold / "summary.json").read_text())
    assert s1["best_score"] == pytest.approx(s2["best_score"]) and s2["epochs"] == s1["epochs"]
    # metrics of the epochs before the kill are kept next to the resumed ones
    assert len(list(fold.glob("csv/version_*/metrics.csv"))) == 2


GROUP_STOPS = [("SIGTERM", "training", True), ("SIGTERM", "validation", True), ("SIGINT", "training", False),
               ("SIGUSR1", "validation", False)]


@pytest.mark.e2e
@pytest.mark.parametrize("signal_name,during,resume", GROUP_STOPS)
def test_a_signal_to_the_whole_process_group_saves_says_one_line_and_resumes(tmp_path, signal_name, during, resume):
    # as SLURM's time limit, scancel, timeout and Ctrl-C send it: to the loader workers too
    run = tmp_path / "run"
    stop = ["+callbacks.stop._target_=tests.helpers.kill.SignalGroupAt", f"+callbacks.stop.during={during}",
            f"+callbacks.stop.signal_name={signal_name}"]
    cmd = [sys.executable, "train.py", *ARGS, "data.num_workers=2", "data.batch_size=4",
           "checkpoints.resume_point=false", "checkpoints.keep_last=false", f"hydra.run.dir={run}", *stop]
    stopped = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300, start_new_session=True,
                             preexec_fn=_as_in_a_terminal)
    assert stopped.returncode == 128 + getattr(signal, signal_name)
    assert "Traceback" not in stopped.stderr and "killed by signal" not in stopped.stderr
    last = stopped.stderr.strip().splitlines()[-1]
    name = "Ctrl-C" if signal_name == "SIGINT" else signal_name
    assert last.startswith(f"error: stopped by {name} in fold 0 after 0 of 3 epochs; saved where it stopped; resume "
                           "it with: python train.py ")
    fold = run / "fold_0"
    assert (fold / "checkpoints" / "last.ckpt").is_file() and not (fold / "summary.json").exists()  # (no resume
    if resume:                                                                   # points asked: saved for the stop)
        command = shlex.split(last.partition("resume it with: ")[2])
        assert command[-2:] == ["ckpt_path=last", f"hydra.run.dir={run}"]
        finished = subprocess.run([sys.executable, *command[1:]], cwd=ROOT, capture_output=True, text=True,
                                  timeout=300)
        assert finished.returncode == 0, finished.stderr[-2000:]
        assert json.loads((fold / "summary.json").read_text())["epochs"] == 3


@pytest.mark.e2e
def test_a_sigterm_ends_the_run_with_its_status_and_the_resume_command(tmp_path):
    run = tmp_path / "run"
    # sent as epoch 0 starts: the first batch finishes, the state is saved as the resume point, then it stops
    stopped = run_train(run, "+callbacks.kill._target_=tests.helpers.kill.KillAtEpochStart", "+callbacks.kill.epoch=0",
                        "+callbacks.kill.signal_name=SIGTERM")
    assert stopped.returncode == 143  # 128 + SIGTERM, as a shell reports it; before: 0, without a word
    overrides = [*ARGS, "+callbacks.kill._target_=tests.helpers.kill.KillAtEpochStart", "+callbacks.kill.epoch=0",
                 "+callbacks.kill.signal_name=SIGTERM"]
    assert stopped.stderr.strip().splitlines()[-1] == (
        "error: stopped by SIGTERM in fold 0 after 1 of 3 epochs; saved where it stopped; resume it with: "
        + shlex.join(["python", "train.py", *overrides, "ckpt_path=last", f"hydra.run.dir={run}"]))
    fold = run / "fold_0"
    assert (fold / "checkpoints" / "last.ckpt").is_file() and not (fold / "summary.json").exists()


KILL = ["+callbacks.kill._target_=tests.helpers.kill.KillAtEpochStart", "+callbacks.kill.epoch=1",
        "+callbacks.kill.signal_name=SIGINT"]


@pytest.mark.e2e
def test_ctrl_c_prints_the_resume_command_and_a_resume_that_changes_results_is_refused(tmp_path, capsys):
    run = tmp_path / "run"
    stopped = run_train(run, *KILL, "trainer.max_epochs=2")
    assert stopped.returncode == 130  # 128 + SIGINT; Lightning alone exits 1
    last = stopped.stderr.strip().splitlines()[-1]
    assert last.startswith("error: stopped by Ctrl-C in fold 0 after 2 of 2 epochs; saved where it stopped; resume "
                           "it with: python train.py")
    command = shlex.split(last.partition("resume it with: ")[2])
    assert command[-2:] == ["ckpt_path=last", f"hydra.run.dir={run}"]
    started_with = (run / ".hydra" / "overrides.yaml").read_text()

    # another image size, and the epoch count and seed forgotten: refused at once, naming both values
    capsys.readouterr()
    assert run_script("train.py", "experiment=synthetic_smoke", "fold=0", "data.num_folds=2", "data.synthetic_count=32",
                      "data.image_size=96", "ckpt_path=last", f"hydra.run.dir={run}") == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"error: hydra.run.dir={run}: this command would change the run's results: ")
    assert "data.image_size=64 when started, 96 now" in line and "trainer.max_epochs=2 when started, 4 now" in line
    assert "seed=7 when started, 42 now" in line
    assert (run / ".hydra" / "overrides.yaml").read_text() == started_with
    assert not (run / "fold_0" / "summary.json").exists()

    # the printed command (without the test's own kill callback, which may differ) finishes the fold
    assert run_script(*[w for w in command[1:] if not w.startswith("+callbacks.kill")]) == 0
    assert json.loads((run / "fold_0" / "summary.json").read_text())["epochs"] == 2
    assert (run / ".hydra" / "overrides.yaml").read_text() == started_with  # how the run began, still
    resumes = json.loads((run / "run_settings.json").read_text())["resumes"]
    assert [r["overrides"][-1] for r in resumes] == ["ckpt_path=last"]


def test_a_refused_command_leaves_no_run_folder(tmp_path, capsys):
    assert run_script("train.py", "data.batch_size=0", f"hydra.run.dir={tmp_path / 'new'}") == 2
    assert capsys.readouterr().err.strip() == "error: data.batch_size=0: must be greater than 0"
    assert not (tmp_path / "new").exists()
