"""What a user reads: each Lightning line once (in Hydra's format, also in the job's log), no
advertisement for another product, no deprecation warning a user cannot act on."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT

# One process: Lightning's output as it comes, then after tidy_library_output (so the test can fail).
SCRIPT = """
import logging, sys, warnings
logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="[hydra-format] %(name)s - %(message)s")
import lightning as L
from vangogh_lightning.core.console import tidy_library_output

def run():
    L.seed_everything(1)
    L.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_checkpointing=False)
    warnings.warn("`isinstance(treespec, LeafSpec)` is deprecated, use ...", FutureWarning)

run()
print("--- tidy ---", file=sys.stderr, flush=True)
warnings.resetwarnings()
tidy_library_output()
run()
"""


@pytest.mark.e2e
def test_each_lightning_line_comes_once_in_the_scripts_format_without_advice_or_deprecations():
    proc = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    before, after = (part.strip().splitlines() for part in proc.stderr.split("--- tidy ---"))
    # what Lightning printed untidied: its own "INFO: ..." copy, the tip, the warning
    assert any(line.startswith("INFO: Seed set to 1") for line in before)
    assert any("Tip:" in line for line in before) and any("LeafSpec" in line for line in before)
    assert after == [line for line in after if line.startswith("[hydra-format] ")]
    assert sum("Seed set to 1" in line for line in after) == 1
    assert sum("GPU available" in line for line in after) == 1
    assert not any("Tip:" in line or "litlogger" in line or "LeafSpec" in line for line in after)


def test_extras_print_the_resolved_config_and_silence_warnings_when_asked(tmp_path):
    # a subprocess: ignore_warnings changes the process's warning filters for good
    proc = subprocess.run([sys.executable, "train.py", "experiment=synthetic_smoke", "extras.print_config=true",
                           "extras.ignore_warnings=true", "data.batch_size=0"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2  # (refused after the check: the tree is printed only for a run that starts)
    assert "== resolved config ==" not in proc.stdout
    script = ("import pathlib, warnings; from tests.conftest import compose_cfg; from vangogh_lightning.core.console "
              "import apply_extras; cfg = compose_cfg('train', ['extras.print_config=true', "
              f"'extras.ignore_warnings=true', 'data.batch_size=5'], pathlib.Path({str(tmp_path)!r})); "
              "apply_extras(cfg); "
              "warnings.warn('a library deprecation')")
    shown = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr[-2000:]
    tree = shown.stdout.split("== resolved config ==\n", 1)[1]
    assert "\ndata:\n" in f"\n{tree}" and "  batch_size: 5\n" in tree and "${" not in tree and "hydra:" not in tree
    assert "a library deprecation" not in shown.stderr


@pytest.mark.e2e
def test_a_small_run_says_nothing_a_user_cannot_act_on(tmp_path):
    """No summary FLOPs (Lightning counts 0 without an example input), no v_num on the bar, no warning that the
    run has fewer batches than trainer.log_every_n_steps, no W&B 'anonymous setting' warning."""
    import os

    env = {k: v for k, v in os.environ.items() if k not in ("WANDB_SILENT", "WANDB_API_KEY")}
    env.update(HOME=str(tmp_path), NETRC=str(tmp_path / "no-netrc"), WANDB_MODE="offline")
    proc = subprocess.run([sys.executable, "train.py", "experiment=synthetic_smoke", "data.synthetic_count=24",
                           "data.num_folds=2", "fold=0", "trainer.max_epochs=1", "model.trainable_classifier_layers=1",
                           "trainer.log_every_n_steps=50", "trainer.enable_progress_bar=true",
                           "trainer.enable_model_summary=true", "logger=wandb", f"hydra.run.dir={tmp_path / 'run'}"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-3000:]
    assert "Trainable params" in output and "Trainable params" in (tmp_path / "run" / "train.log").read_text()
    assert "Epoch 0" in output and "train/loss" in output  # the bar, with its metrics
    for noise in ("FLOPs", "Flops", "v_num", "log_every_n_steps", "anonymous"):
        assert noise not in output, noise
