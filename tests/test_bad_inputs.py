"""Every public entry point, fed bad input, answers with one clear line and damages nothing.

Runs the scripts as the command line does (in this process: override check, Hydra, config check,
task) and checks: exit status 2, a one-line message naming the file or key, no Python traceback, and
that an earlier output in the run folder is unchanged. One real process per script proves the same of
the process itself.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from tests.conftest import ROOT, SMALL_CHECKPOINTS, run_script

TRAIN = ["experiment=synthetic_smoke", "trainer.max_epochs=1", "data.synthetic_count=24", "data.num_folds=2"]


def run(script: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, script, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)


def make_earlier_output(tmp_path: Path) -> Path:
    """A run folder that already holds a result which must survive every failed run."""
    out = tmp_path / "run"
    out.mkdir()
    (out / "earlier_result.png").write_bytes(b"precious")
    return out


def make_files(tmp_path: Path) -> dict[str, Path]:
    arr = np.random.default_rng(0).integers(0, 255, (48, 64, 3), dtype=np.uint8)
    good = tmp_path / "good.jpg"
    Image.fromarray(arr).save(good)
    trunc = tmp_path / "truncated.jpg"
    trunc.write_bytes(good.read_bytes()[:300])
    empty_csv = tmp_path / "empty.csv"
    empty_csv.write_text("")
    cols_csv = tmp_path / "cols.csv"
    pd.DataFrame({"filename": ["Post_Impressionism/a.jpg"], "style": ["x"]}).to_csv(cols_csv, index=False)
    (tmp_path / "empty_dir").mkdir()
    notes = tmp_path / "notes.txt"
    notes.write_text("not a checkpoint")
    strip = tmp_path / "strip.png"
    Image.new("RGB", (5000, 10), (120, 30, 60)).save(strip)
    bomb = tmp_path / "bomb.png"
    Image.new("1", (30000, 30000)).save(bomb)  # ~1 MB file, 900 Mpx decoded
    weights = tmp_path / "weights.pth"
    torch.save({"features.0.weight": torch.zeros(1)}, weights)  # a weights file, not a classifier
    return {"good": good, "truncated": trunc, "empty_csv": empty_csv, "cols_csv": cols_csv,
            "empty_dir": tmp_path / "empty_dir", "missing": tmp_path / "missing.jpg", "notes": notes,
            "strip": strip, "bomb": bomb, "weights": weights}


@pytest.fixture
def earlier_output(tmp_path) -> Path:
    return make_earlier_output(tmp_path)


@pytest.fixture
def files(tmp_path) -> dict[str, Path]:
    return make_files(tmp_path)


CASES = [
    # (script, args(files) -> list, texts the one-line error must contain...)
    ("train.py", lambda f: [*TRAIN, "fold=7"], "fold=7: out of range"),
    ("train.py", lambda f: [*TRAIN, "data.num_folds=30"], "data.num_folds=30"),
    ("train.py", lambda f: ["data=wikiart", f"data.csv_path={f['empty_csv']}", f"data.image_root={f['empty_dir']}",
                            "model.pretrained=false"], "the CSV is empty"),
    ("train.py", lambda f: ["data=wikiart", f"data.csv_path={f['cols_csv']}", f"data.image_root={f['empty_dir']}",
                            "model.pretrained=false"], "missing column(s) artist"),
    ("train.py", lambda f: [*TRAIN, "model.backbone=resnet"], "model.backbone=resnet: must be 'alexnet' or 'vgg19'"),
    ("train.py", lambda f: [*TRAIN, "data.num_workers=lots"],
     "data.num_workers=lots: must be 'auto' or a valid integer"),
    ("train.py", lambda f: [*TRAIN, "model.pretrained=true", "model.weights_path=/nonexistent/w.pth"],
     "model.weights_path=/nonexistent/w.pth: weights file not found"),
    ("stylize.py", lambda f: [f"content={f['missing']}", f"style={f['good']}"], "missing.jpg: file not found"),
    ("stylize.py", lambda f: [f"content={f['truncated']}", f"style={f['good']}"],
     "truncated.jpg: corrupt or truncated"),
    ("stylize.py", lambda f: [f"content={f['empty_dir']}", f"style={f['good']}"], "the folder holds no image files"),
    ("stylize.py", lambda f: [f"content={f['good']}", f"style={f['good']}", "backbone.pretrained=false",
                              "backbone.style_layers=[conv9_1]", "backbone.style_layer_weights=null"],
     "unknown vgg19 layer(s) conv9_1"),
    ("stylize.py", lambda f: [f"content={f['good']}", f"style={f['good']}", "backbone.pretrained=false",
                              "lbfgs_history=0"], "lbfgs_history=0: must be greater than 0"),
    ("evaluate.py", lambda f: ["task=classify", f"task.checkpoint={f['missing']}", f"task.images={f['good']}"],
     "checkpoint not found"),
    ("evaluate.py", lambda f: ["task=select_folds", f"task.runs={f['empty_dir']}"], "no finished folds found"),
    # Values of the wrong type or range: one line naming the key, before any work.
    ("train.py", lambda f: [*TRAIN, "trainer.precision=fp8"], "trainer.precision=fp8: must be '32-true'"),
    ("train.py", lambda f: [*TRAIN, "data.batch_size=0"], "data.batch_size=0: must be greater than 0"),
    ("train.py", lambda f: [*TRAIN, "model.lr=abc"], "model.lr=abc: must be a valid number"),
    ("train.py", lambda f: [*TRAIN, "model.threshold=1.5"], "model.threshold=1.5: must be less than 1"),
    ("train.py", lambda f: [*TRAIN, "fold=0", f"ckpt_path={f['notes']}"], "ckpt_path=", "not a readable checkpoint"),
    ("train.py", lambda f: [*TRAIN, "max_image_pixels=-5"], "max_image_pixels=-5: must be greater than 0"),
    ("stylize.py", lambda f: [f"content={f['good']}", f"style={f['good']}", "precision=fp8"],
     "precision=fp8: must be '32-true'"),
    ("stylize.py", lambda f: [f"content={f['good']}", f"style={f['good']}", "size=abc"],
     "size=abc: must be a valid integer"),
    ("stylize.py", lambda f: [f"content={f['good']}", f"style={f['good']}", "steps=abc"],
     "steps=abc: must be a valid integer"),
    ("stylize.py", lambda f: [f"content={f['good']}", f"style={f['good']}", "style_weight=-1"],
     "style_weight=-1: must be greater than or equal to 0"),
    ("stylize.py", lambda f: [f"content={f['good']}", f"style={f['good']}", f"out_dir={f['notes']}"],
     "out_dir=", "is a file, not a folder"),
    ("stylize.py", lambda f: [f"content={f['good']}", f"style={f['good']}", f"out_dir={f['notes']}/sub"],
     "out_dir=", "cannot write there"),
    ("stylize.py", lambda f: [f"content={f['strip']}", f"style={f['good']}"], "strip.png: 5000x10 px is too thin"),
    ("stylize.py", lambda f: [f"content={f['bomb']}", f"style={f['good']}"],
     "bomb.png: 900,000,000 pixels, over the limit", "max_image_pixels="),
    ("stylize.py", lambda f: [f"content={f['good']}", f"style={f['bomb']}"], "bomb.png: 900,000,000 pixels"),
    ("evaluate.py", lambda f: ["task=classify", f"task.checkpoint={f['notes']}", f"task.images={f['good']}",
                               "task.batch_size=0"], "task.batch_size=0: must be greater than or equal to 1"),
    ("evaluate.py", lambda f: ["task=classify", f"task.checkpoint={f['notes']}", f"task.images={f['good']}",
                               "task.threshold=abc"], "task.threshold=abc: must be a valid number"),
    ("evaluate.py", lambda f: ["task=classify", f"task.checkpoint={f['notes']}", f"task.images={f['good']}"],
     "task.checkpoint=", "not a readable checkpoint"),
    ("evaluate.py", lambda f: ["task=classify", f"task.checkpoint={f['notes']}", f"task.images={f['good']}",
                               f"out_dir={f['notes']}"], "out_dir=", "is a file"),
    ("evaluate.py", lambda f: ["task=select_folds", f"task.runs={f['empty_dir']}", "task.rule=best"],
     "task.rule=best: must be 'auroc' or 'combined'"),
    # A judge to aim the stylization at (judge=, judge_weight=): missing, or of the wrong kind.
    ("stylize.py", lambda f: [f"content={f['good']}", f"style={f['good']}", "judge_weight=1"],
     "judge_weight=1: there is no judge to aim at; pass judge=<a classifier checkpoint"),
    ("stylize.py", lambda f: [f"content={f['good']}", f"style={f['good']}", f"judge={f['missing']}.ckpt",
                              "judge_weight=1"], "judge=", "missing.jpg.ckpt: checkpoint not found"),
    ("stylize.py", lambda f: [f"content={f['good']}", f"style={f['good']}", "backbone.pretrained=false",
                              f"judge={f['notes']}", "judge_weight=1"], "judge=", "not a readable checkpoint"),
    ("stylize.py", lambda f: [f"content={f['good']}", f"style={f['good']}", "backbone.pretrained=false",
                              f"judge={f['weights']}", "judge_weight=1"], "not a vangogh-lightning classifier"),
    ("evaluate.py", lambda f: ["task=classify", f"task.checkpoint={f['notes']}", f"task.images={f['good']}",
                               "task.evidence=maybe"], "task.evidence=maybe: must be a valid boolean"),
]


CASE_IDS = [f"{c[0]}:{c[2][:30]}" for c in CASES]


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory) -> dict[str, Path]:
    return make_files(tmp_path_factory.mktemp("inputs"))


def refused(capsys, script: str, *args: str) -> tuple[str, str]:
    """Run ``script`` in this process: its one error line (status 2, no traceback) and its stdout."""
    capsys.readouterr()
    status = run_script(script, *args)
    out, err = capsys.readouterr()
    assert status == 2, err[-2000:]
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "Traceback" not in err, err[-2000:]
    return errors[0], out


@pytest.mark.parametrize("case", range(len(CASES)), ids=CASE_IDS)
def test_bad_input_gets_one_clear_line_and_loses_nothing(case, bad_files, tmp_path, capsys):
    script, make_args, *messages = CASES[case]
    earlier_output = make_earlier_output(tmp_path)
    line, _ = refused(capsys, script, *make_args(bad_files), f"hydra.run.dir={earlier_output}")
    assert all(m in line for m in messages), line
    assert (earlier_output / "earlier_result.png").read_bytes() == b"precious"


@pytest.mark.parametrize("case", [0, 7, 13], ids=[CASE_IDS[i] for i in (0, 7, 13)])
def test_a_real_process_of_each_script_exits_2_with_one_line_and_no_traceback(case, bad_files, tmp_path):
    script, make_args, *messages = CASES[case]
    proc = run(script, *make_args(bad_files), f"hydra.run.dir={tmp_path / 'run'}")
    assert proc.returncode == 2, proc.stderr[-2000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and all(m in errors[0] for m in messages), proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("args,key", [(["model.learning_rate=1"], "model.learning_rate"),
                                      (["model=resnet"], "model"), (["data.batchsize=8"], "data.batchsize")])
def test_wrong_config_keys_are_refused_by_hydra_naming_the_key(args, key, capsys):
    assert run_script("train.py", *args) == 1
    err = capsys.readouterr().err
    assert key in err and "Traceback" not in err


# --- untrusted files and secrets --------------------------------------------------------------
class _RunsCodeWhenUnpickled:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_crafted_checkpoint_cannot_run_code(tmp_path, files, capsys):
    marker = tmp_path / "PWNED"
    evil = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "hyper_parameters": {"backbone": "alexnet"},
                "payload": _RunsCodeWhenUnpickled(marker)}, evil)
    cases = [("evaluate.py", ["task=classify", f"task.checkpoint={evil}", f"task.images={files['good']}"]),
             ("evaluate.py", ["task=deception", f"task.classifiers.vgg19={evil}", f"task.classifiers.alexnet={evil}",
                              f"task.stylized.vgg19={files['good']}", f"task.stylized.alexnet={files['good']}"]),
             ("train.py", [*TRAIN, "fold=0", f"ckpt_path={evil}"]),
             ("train.py", [*TRAIN, "model.pretrained=true", f"model.weights_path={evil}"])]
    for i, (script, args) in enumerate(cases):  # each its own run folder
        line, _ = refused(capsys, script, *args, f"hydra.run.dir={tmp_path / f'run{i}'}")
        assert "refused" in line and "could run code" in line
        assert not marker.exists(), f"{script} ran code from a crafted file"


def _all_text_under(folder: Path) -> str:
    return "\n".join(p.read_bytes().decode("utf-8", "replace") for p in folder.rglob("*") if p.is_file())


@pytest.mark.e2e
def test_a_storage_password_is_refused_before_it_is_printed_or_saved(tmp_path):
    secret = "Sup3rSecretPw"
    sweep = tmp_path / "sweep"
    proc = run("train.py", "-m", "hparams_search=optuna", *TRAIN, "hydra.sweeper.n_trials=1",
               f"hydra.sweeper.storage=postgresql://alice:{secret}@127.0.0.1:1/optuna", f"hydra.sweep.dir={sweep}")
    assert proc.returncode == 2
    assert "PGPASSWORD or ~/.pgpass" in proc.stderr and "postgresql://alice@127.0.0.1:1/optuna" in proc.stderr
    assert secret not in proc.stdout + proc.stderr
    assert not sweep.exists() or secret not in _all_text_under(sweep)


def _wandb_env(key: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    # A closed local port: the W&B server "cannot be reached", whatever this machine's network.
    env.update(WANDB_API_KEY=key, WANDB_BASE_URL="http://127.0.0.1:9", WANDB_SILENT="true")
    return env


@pytest.mark.e2e
def test_wandb_with_a_key_but_no_server_logs_offline_in_seconds_and_saves_no_secret(tmp_path):
    key = "a1b2c3d4e5" * 4  # well-formed, 40 characters
    run_dir = tmp_path / "run"
    proc = subprocess.run([sys.executable, "train.py", *TRAIN, *SMALL_CHECKPOINTS, "fold=0", "logger=wandb",
                           f"hydra.run.dir={run_dir}"], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env=_wandb_env(key))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "cannot be reached; logging offline" in proc.stdout
    assert list(run_dir.glob("fold_0/wandb/offline-run-*/run-*.wandb"))
    assert key not in proc.stdout + proc.stderr and key not in _all_text_under(run_dir)


@pytest.mark.e2e
@pytest.mark.parametrize("key,offline,message", [
    ("not-a-key", "auto", "WANDB_API_KEY: not a valid W&B API key"),
    ("a1b2c3d4e5" * 4, "false", "logger.wandb.offline=false: the W&B server 127.0.0.1:9 cannot be reached"),
])
def test_wandb_bad_key_or_forced_online_without_server_is_one_line(tmp_path, key, offline, message):
    proc = subprocess.run([sys.executable, "train.py", *TRAIN, "fold=0", "logger=wandb",
                           f"logger.wandb.offline={offline}", f"hydra.run.dir={tmp_path / 'run'}"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120, env=_wandb_env(key))
    assert proc.returncode == 2, proc.stderr[-2000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and message in errors[0] and "Traceback" not in proc.stderr
    assert key not in proc.stdout + proc.stderr


@pytest.mark.e2e
def test_a_16_bit_grey_photo_is_stylized_from_its_real_tones(tmp_path):
    ramp = np.tile(np.linspace(0, 65535, 96), (64, 1)).astype(np.uint16)
    content = tmp_path / "scan16.png"
    Image.fromarray(ramp).save(content)
    out = tmp_path / "out"
    proc = run("stylize.py", f"content={content}", f"style={content}", "backbone.pretrained=false", "size=64",
               "steps=1", "progress_bar=false", f"out_dir={out}", f"hydra.run.dir={tmp_path / 'run'}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = np.asarray(Image.open(out / "scan16_vgg19.png").convert("L")).astype(float)
    assert (result >= 250).mean() < 0.2 and 90 < result.mean() < 165  # a ramp, not a white sheet


@pytest.mark.parametrize("args,message", [
    (["trainer=gpu"], "error: trainer.accelerator=gpu: no CUDA GPU is visible here; use trainer=cpu"),
    (["model.pretrained=true"], "error: could not get ImageNet weights for alexnet ("),
])
def test_a_missing_gpu_or_missing_weights_is_one_line_before_the_data_is_read(tmp_path, args, message, capsys,
                                                                             monkeypatch):
    import torch

    if args == ["trainer=gpu"] and torch.cuda.is_available():
        pytest.skip("a GPU is visible here")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty-hub"))  # (offline here: no weights)
    line, out = refused(capsys, "train.py", *TRAIN, *args, f"hydra.run.dir={tmp_path / 'run'}")
    assert line.startswith(message), line
    assert "fold 0/" not in out  # the data module never started
    assert not (tmp_path / "run").exists()
