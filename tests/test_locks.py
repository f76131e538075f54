"""Two processes, one folder: the second writer of every script is refused at once, naming the holder;
a holder that dies (even by kill -9) leaves nothing that blocks the next run; a study's child step
does not outlive the study."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT
from vangogh_lightning.core.errors import UserError
from vangogh_lightning.core.locks import LOCK_FILE, exclusive


def _script(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "WANDB_MODE": "offline"})


@pytest.mark.e2e
def test_a_second_writer_of_each_script_is_refused_at_once_naming_the_first(tmp_path, shared_data):
    photo = shared_data / "photos" / "tubingen.jpg"
    painting = shared_data / "paintings" / "edvard-munch_the-scream-1893.jpg"
    folders = {name: tmp_path / name for name in ("train", "stylize", "evaluate", "study")}
    commands = {
        "train": ["train.py", "experiment=synthetic_smoke", "fold=0", f"hydra.run.dir={folders['train']}"],
        "stylize": ["stylize.py", f"content={photo}", f"style={painting}", "backbone.pretrained=false",
                    f"out_dir={folders['stylize']}"],
        "evaluate": ["evaluate.py", "task=select_folds", f"task.runs={tmp_path}", f"out_dir={folders['evaluate']}"],
        "study": ["study.py", f"content={photo}", f"styles=[{painting}]", f"out_dir={folders['study']}"],
    }
    locks = {"study": "study.lock"}
    for folder in folders.values():  # the first writer: this test, holding each folder
        folder.mkdir(parents=True)
        (folder / "earlier.txt").write_text("precious")
    held = [exclusive(folder, locks.get(name, LOCK_FILE), "the first run") for name, folder in folders.items()]
    for lock in held:
        lock.__enter__()
    try:
        results = {name: _script(*command) for name, command in commands.items()}
    finally:
        for lock in held:
            lock.__exit__(None, None, None)
    for name, proc in results.items():
        assert proc.returncode == 2, (name, proc.stderr[-2000:])
        (line,) = [x for x in proc.stderr.splitlines() if x.startswith("error: ")]
        assert f"={folders[name]}: " in line and "is already running there (pid " in line, line
        assert f"pid {os.getpid()} on " in line and "wait for it, or pass another" in line
        assert (folders[name] / "earlier.txt").read_text() == "precious"


def test_a_holder_killed_with_sigkill_leaves_no_stale_lock(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from vangogh_lightning.core.locks import exclusive\n"
        f"with exclusive({str(tmp_path)!r}, '.lock', 'the holder'):\n"
        "    print('held', flush=True); time.sleep(120)")], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(UserError, match=r"out_dir=.*: another run is already running there \(pid \d+ on "), \
            exclusive(tmp_path, ".lock", "another run"):
        pass
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    with exclusive(tmp_path, ".lock", "another run"):  # at once: the OS dropped the dead holder's lock
        assert "pid " in (tmp_path / ".lock").read_text()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_study_step_dies_with_the_study(tmp_path):
    marker = tmp_path / "child.pid"
    step = f"import os, time; open({str(marker)!r}, 'w').write(str(os.getpid())); time.sleep(120)"
    study = subprocess.Popen([sys.executable, "-c", "import sys; from vangogh_lightning.study.pipeline import "
                              f"run_child; run_child([sys.executable, '-c', {step!r}])"], cwd=ROOT)
    deadline = time.time() + 30
    while not (marker.is_file() and marker.read_text()) and time.time() < deadline:
        time.sleep(0.1)
    child = int(marker.read_text())
    study.send_signal(signal.SIGKILL)
    study.wait()
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            return  # gone with its parent
        if Path(f"/proc/{child}/stat").read_text().split()[2] == "Z":
            return  # ended; only not yet reaped by init
        time.sleep(0.1)
    os.kill(child, signal.SIGKILL)
    pytest.fail("the study's child outlived the study")


@pytest.mark.parametrize("name", [".lock", "study.lock"])
def test_a_lock_file_that_is_a_link_is_refused_and_the_file_it_points_to_is_untouched(tmp_path, name):
    precious = tmp_path / "thesis.tex"
    precious.write_text("years of work")
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / name).symlink_to(precious)
    link = pytest.raises(UserError, match=rf"{name}: cannot be this folder's lock file .*a link or not a file")
    with link, exclusive(folder, name, "a run"):
        pass
    os.mkfifo(folder / "fifo")
    with pytest.raises(UserError, match="fifo: not a plain file"), exclusive(folder, "fifo", "a run"):
        pass
    assert precious.read_text() == "years of work"
