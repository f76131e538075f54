"""Every public entry point, fed bad input, answers with one clear line and damages nothing.

Runs the real scripts (as a user would) and checks: non-zero exit, a one-line message naming the
file or key, no Python traceback, and that an earlier output in the run folder is unchanged.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from tests.conftest import ROOT

TRAIN = ["experiment=synthetic_smoke", "trainer.max_epochs=1", "data.synthetic_count=24", "data.num_folds=2"]


def run(script: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, script, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)


@pytest.fixture
def earlier_output(tmp_path) -> Path:
    """A run folder that already holds a result which must survive every failed run."""
    out = tmp_path / "run"
    out.mkdir()
    (out / "earlier_result.png").write_bytes(b"precious")
    return out


@pytest.fixture
def files(tmp_path) -> dict[str, Path]:
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
    return {"good": good, "truncated": trunc, "empty_csv": empty_csv, "cols_csv": cols_csv,
            "empty_dir": tmp_path / "empty_dir", "missing": tmp_path / "missing.jpg"}


CASES = [
    # (script, args(files) -> list, text the one-line error must contain)
    ("train.py", lambda f: [*TRAIN, "fold=7"], "fold=7: out of range"),
    ("train.py", lambda f: [*TRAIN, "data.num_folds=30"], "data.num_folds=30"),
    ("train.py", lambda f: ["data=wikiart", f"data.csv_path={f['empty_csv']}", f"data.image_root={f['empty_dir']}"],
     "the CSV is empty"),
    ("train.py", lambda f: ["data=wikiart", f"data.csv_path={f['cols_csv']}", f"data.image_root={f['empty_dir']}"],
     "missing column(s) artist"),
    ("train.py", lambda f: [*TRAIN, "model.backbone=resnet"], "backbone 'resnet' is unknown"),
    ("train.py", lambda f: [*TRAIN, "data.num_workers=lots"], "data.num_workers=lots: must be 'auto' or"),
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
                              "lbfgs_history=0"], "lbfgs_history=0: must be at least 1"),
    ("evaluate.py", lambda f: ["task=classify", f"task.checkpoint={f['missing']}", f"task.images={f['good']}"],
     "checkpoint not found"),
    ("evaluate.py", lambda f: ["task=select_folds", f"task.runs={f['empty_dir']}"], "no finished folds found"),
]


@pytest.mark.slow
@pytest.mark.parametrize("script,make_args,message", CASES, ids=[f"{c[0]}:{c[2][:30]}" for c in CASES])
def test_bad_input_gets_one_clear_line_and_loses_nothing(script, make_args, message, files, earlier_output):
    proc = run(script, *make_args(files), f"hydra.run.dir={earlier_output}")
    assert proc.returncode == 2, proc.stderr[-2000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and message in errors[0], proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    assert (earlier_output / "earlier_result.png").read_bytes() == b"precious"


@pytest.mark.parametrize("args,key", [(["model.learning_rate=1"], "model.learning_rate"),
                                      (["model=resnet"], "model"), (["data.batchsize=8"], "data.batchsize")])
def test_wrong_config_keys_are_refused_by_hydra_naming_the_key(args, key):
    proc = run("train.py", *args)
    assert proc.returncode == 1
    assert key in proc.stderr and "Traceback" not in proc.stderr
