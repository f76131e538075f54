"""Every config key a user can set is checked for type and range in one place per script (config/schema.py)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT, compose_cfg
from vangogh_lightning.config.preflight import check_output_dir
from vangogh_lightning.config.schema import check_config
from vangogh_lightning.core.errors import UserError

# script -> (overrides that make its config complete, the schema it is checked against)
SCRIPTS = {"train": ([], "train"), "stylize": (["content=x.jpg"], "stylize"),
           "evaluate": (["task=classify"], "evaluate"), "study": (["content=x.jpg"], "study")}


@pytest.mark.parametrize("script", SCRIPTS)
def test_the_shipped_defaults_pass_their_own_rules(script, tmp_path):
    base, rules = SCRIPTS[script]
    check_config(compose_cfg(script, base, tmp_path), rules)


@pytest.mark.parametrize("overrides", [["experiment=synthetic_smoke"], ["experiment=report_vgg19"],
                                       ["hparams_search=optuna"], ["debug=default"], ["trainer=gpu"],
                                       ["data=paintings"], ["logger=wandb"], ["callbacks=none"]])
def test_every_train_preset_passes(overrides, tmp_path):
    check_config(compose_cfg("train", overrides, tmp_path), "train")


@pytest.mark.parametrize("script,override,message", [
    ("train", "data.batch_size=0", "data.batch_size=0: must be an integer >= 1"),
    ("train", "data.batch_size=2.5", "data.batch_size=2.5: must be an integer"),
    ("train", "data.batch_size=true", "data.batch_size=True: must be an integer"),
    ("train", "model.lr=0", "model.lr=0: must be a number > 0"),
    ("train", "model.lr=nan", "model.lr=nan: must be a number > 0"),
    ("train", "model.pos_weight=lots", "model.pos_weight=lots: must be null or one of auto or a number > 0"),
    ("train", "trainer.precision=fp8", "trainer.precision=fp8: must be one of 32-true"),
    ("train", "data.on_missing=ignore", "data.on_missing=ignore: must be one of error, skip"),
    ("train", "monitor.mode=up", "monitor.mode=up: must be one of min, max"),
    ("train", "data.image_size=32",  # AlexNet's stride-4 conv and three poolings need 63 px
     "data.image_size=32: too small for alexnet, whose layers need at least 63 px; use data.image_size=63 or more"),
    ("train", "monitor.metric=val/aurco",  # before the first epoch, not after it
     "monitor.metric=val/aurco: must be one of val/loss, val/auroc, val/f1, val/acc, val/bal_acc"),
    ("train", "fold=-1", "fold=-1: must be null or an integer >= 0"),
    ("stylize", "size=abc", "size=abc: must be an integer >= 16"),
    ("stylize", "size=8", "size=8: must be an integer >= 16"),
    ("stylize", "precision=fp8", "precision=fp8: must be one of"),
    ("stylize", "device=gpu0", "device=gpu0: must be auto, cpu, cuda, cuda:<n> or mps"),
    ("stylize", "multiscale=maybe", "multiscale=maybe: must be one of auto, true, false"),
    ("stylize", "style_weights=[1,-1]", "style_weights=[1, -1]: must be null or a list"),
    ("stylize", "backbone.border_padding=-1", "backbone.border_padding=-1: must be an integer >= 0"),
    ("stylize", "backbone.conv_padding=circular",
     "backbone.conv_padding=circular: must be one of zeros, reflect, replicate"),
    ("evaluate", "task.batch_size=0", "task.batch_size=0: must be an integer >= 1"),
    ("evaluate", "task.threshold=abc", "task.threshold=abc: must be null or a number > 0 and < 1"),
    ("evaluate", "overwrite=yes", "overwrite=yes: must be true or false"),
])
def test_a_bad_value_is_one_line_naming_the_key(script, override, message, tmp_path):
    base, rules = SCRIPTS[script]
    with pytest.raises(UserError) as err:
        check_config(compose_cfg(script, [*base, override], tmp_path), rules)
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


def test_output_folders_are_proved_writable(tmp_path):
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(UserError, match="out_dir=.*a_file: is a file, not a folder"):
        check_output_dir(tmp_path / "a_file", "out_dir")
    with pytest.raises(UserError, match="out_dir=.*a_file/sub: cannot write there"):
        check_output_dir(tmp_path / "a_file" / "sub", "out_dir")
    assert check_output_dir(tmp_path / "new" / "deep", "out_dir").is_dir()
    assert not list((tmp_path / "new" / "deep").iterdir())  # the probe file is gone


def test_checkpoint_and_search_keys_are_checked(tmp_path):
    with pytest.raises(UserError, match="checkpoints.keep_best=best: must be one of true, false, best_trial"):
        check_config(compose_cfg("train", ["checkpoints.keep_best=best"], tmp_path), "train")
    with pytest.raises(UserError, match="search.seed=abc: must be null or an integer"):
        check_config(compose_cfg("train", ["hparams_search=optuna", "search.seed=abc"], tmp_path), "train")


EARLY_ERRORS = [
    ("train", ["fold=7", "data.num_folds=2"], "fold=7: out of range"),
    ("train", ["checkpoints.keep_last=true", "checkpoints.resume_point=false"], "checkpoints.keep_last=true: "),
    ("train", ["data=wikiart", "data.csv_path=/nowhere/classes.csv"], "data.csv_path=/nowhere/classes.csv: "),
    ("stylize", ["content=/nowhere/cat.jpg"], "content=/nowhere/cat.jpg: file not found"),
    ("stylize", ["content=PHOTO", "style=/nowhere/*.jpg"], "style=/nowhere/*.jpg: the pattern matches no image"),
    ("train", ["experiment=synthetic_smoke", "fold=0", "ckpt_path=/nowhere/last.ckpt"],
     "ckpt_path=/nowhere/last.ckpt: checkpoint not found"),
    ("evaluate", ["task=classify", "task.images=/nowhere"], "task.images=/nowhere: file not found"),
    ("evaluate", ["task=classify", "task.checkpoint=/nowhere/best.ckpt", "task.images=PHOTO"],
     "task.checkpoint=/nowhere/best.ckpt: checkpoint not found"),
    ("evaluate", ["task=deception", "task.classifiers.vgg19=/nowhere/v.ckpt"],
     "task.classifiers.vgg19=/nowhere/v.ckpt: checkpoint not found"),
]


def test_missing_files_and_bad_key_combinations_are_reported_before_torch_is_imported(shared_data, tmp_path):
    """A mistyped path or fold answers in about a second: the checks need neither torch nor Lightning."""
    photo = shared_data / "photos" / "photo-00.jpg"
    cases = [(s, [o.replace("PHOTO", str(photo)) for o in over], m) for s, over, m in EARLY_ERRORS]
    code = f"""
import sys
from pathlib import Path
from tests.conftest import compose_cfg
from vangogh_lightning.config.entry import check_script_config
from vangogh_lightning.core.errors import UserError
for script, overrides, message in {cases!r}:
    try:
        check_script_config(compose_cfg(script, overrides, Path({str(tmp_path)!r})), script)
    except UserError as error:
        assert str(error).startswith(message), (str(error), message)
    else:
        raise SystemExit(f"no error for {{script}} {{overrides}}")
heavy = sorted(m for m in ("torch", "lightning", "torchvision") if m in sys.modules)
assert not heavy, heavy
"""
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
