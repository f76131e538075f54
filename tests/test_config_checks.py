"""Every config key a user can set is checked for type and range in one place per script (config/schema.py)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT, compose_cfg
from vangogh_lightning.config.preflight import check_output_dir
from vangogh_lightning.config.schema import check_config
from vangogh_lightning.core.errors import UserError


# script -> overrides that make its config complete: the input files its fields name exist
def base(script: str, tmp_path) -> list[str]:
    (tmp_path / "wikiart").mkdir(exist_ok=True)
    (tmp_path / "wikiart" / "classes.csv").write_text("")
    (tmp_path / "x.jpg").write_bytes(b"")
    return {"train": [f"paths.wikiart_dir={tmp_path / 'wikiart'}"],
            "stylize": [f"content={tmp_path / 'x.jpg'}", f"style={tmp_path / 'x.jpg'}"],
            "evaluate": ["task=classify"], "study": ["content=x.jpg"]}[script]


@pytest.mark.parametrize("script", ["train", "stylize", "evaluate", "study"])
def test_the_shipped_defaults_pass_their_own_rules(script, tmp_path):
    check_config(compose_cfg(script, base(script, tmp_path), tmp_path), script)


@pytest.mark.parametrize("overrides", [["experiment=synthetic_smoke"], ["experiment=report_vgg19"],
                                       ["hparams_search=optuna"], ["debug=default"], ["trainer=gpu"],
                                       ["data=paintings"], ["logger=wandb"], ["callbacks=none"]])
def test_every_train_preset_passes(overrides, tmp_path):
    check_config(compose_cfg("train", [*base("train", tmp_path), *overrides], tmp_path), "train")


@pytest.mark.parametrize("script,override,message", [
    ("train", "data.batch_size=0", "data.batch_size=0: must be greater than 0"),
    ("train", "data.batch_size=2.5", "data.batch_size=2.5: must be a valid integer"),
    ("train", "data.batch_size=true", "data.batch_size=True: must be a valid integer"),
    ("train", "data.num_workers=lots", "data.num_workers=lots: must be 'auto' or a valid integer"),
    ("train", "model.lr=0", "model.lr=0: must be greater than 0"),
    ("train", "model.lr=nan", "model.lr=nan: must be a finite number"),
    ("train", "model.weight_decay=inf", "model.weight_decay=inf: must be a finite number"),
    ("train", "model.pos_weight=lots", "model.pos_weight=lots: must be 'auto' or a valid number"),
    ("train", "model.backbone=resnet", "model.backbone=resnet: must be 'alexnet' or 'vgg19'"),
    ("train", "trainer.precision=fp8", "trainer.precision=fp8: must be '32-true', "),
    ("train", "data.on_missing=ignore", "data.on_missing=ignore: must be 'error' or 'skip'"),
    ("train", "monitor.mode=up", "monitor.mode=up: must be 'min' or 'max'"),
    ("train", "data.image_size=32",  # AlexNet's stride-4 conv and three poolings need 63 px
     "data.image_size=32: too small for alexnet, whose layers need at least 63 px; use data.image_size=63 or more"),
    ("train", "monitor.metric=val/aurco",  # before the first epoch, not after it
     "monitor.metric=val/aurco: must be 'val/loss', 'val/auroc', 'val/f1', 'val/acc' or 'val/bal_acc'"),
    ("train", "fold=-1", "fold=-1: must be greater than or equal to 0"),
    ("train", "data.styles=[]", "data.styles=[]: must have at least 1 item"),
    ("train", f"tags=[ok,{'x' * 65}]", f"tags.1={'x' * 57}...: must have at most 64 characters"),
    ("train", "~data.batch_size", "data.batch_size: missing; conf/ sets it (was it removed with ~data.batch_size?)"),
    ("train", "+data.batchsize=8", "data.batchsize: not a key of data; its keys are _target_, source, image_root, "),
    ("stylize", "size=abc", "size=abc: must be a valid integer"),
    ("stylize", "size=8", "size=8: must be greater than or equal to 16"),
    ("stylize", "log_progress.every_s=-1", "log_progress.every_s=-1: must be greater than or equal to 0"),
    ("stylize", "log_progress.when=sometimes", "log_progress.when=sometimes: must be 'auto', 'always' or 'never'"),
    ("stylize", "precision=fp8", "precision=fp8: must be '32-true', "),
    ("stylize", "device=gpu0", "device=gpu0: must match pattern '^(auto|cpu|cuda|mps|cuda:\\d+)$'"),
    ("stylize", "multiscale=maybe", "multiscale=maybe: must be 'auto' or a valid boolean"),
    ("stylize", "style_weights=[1,-1]", "style_weights.1=-1: must be greater than or equal to 0"),
    ("stylize", "backbone.border_padding=-1", "backbone.border_padding=-1: must be greater than or equal to 0"),
    ("stylize", "backbone.conv_padding=circular",
     "backbone.conv_padding=circular: must be 'zeros', 'reflect' or 'replicate'"),
    ("evaluate", "task.batch_size=0", "task.batch_size=0: must be greater than or equal to 1"),
    ("evaluate", "task.threshold=abc", "task.threshold=abc: must be a valid number"),
    ("evaluate", "overwrite=yes", "overwrite=yes: must be a valid boolean"),
    ("evaluate", "task.name=judge",  # the tag that picks the task's section is a key like any other
     "task.name=judge: must be one of 'select_folds', 'classify', 'deception', 'dashboard', 'test'"),
    ("evaluate", "+task.bogus=1", "task.bogus: not a key of task; its keys are name, checkpoint, images, "),
])
def test_a_bad_value_is_one_line_naming_the_key(script, override, message, tmp_path):
    with pytest.raises(UserError) as err:
        check_config(compose_cfg(script, [*base(script, tmp_path), override], tmp_path), script)
    assert str(err.value).startswith(message) and "\n" not in str(err.value), str(err.value)


def test_output_folders_are_proved_writable(tmp_path):
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(UserError, match="out_dir=.*a_file: is a file, not a folder"):
        check_output_dir(tmp_path / "a_file", "out_dir")
    with pytest.raises(UserError, match="out_dir=.*a_file/sub: cannot write there"):
        check_output_dir(tmp_path / "a_file" / "sub", "out_dir")
    assert check_output_dir(tmp_path / "new" / "deep", "out_dir").is_dir()
    assert not list((tmp_path / "new" / "deep").iterdir())  # the probe file is gone


def test_checkpoint_and_search_keys_are_checked(tmp_path):
    train = base("train", tmp_path)
    with pytest.raises(UserError, match="checkpoints.keep_best=best: must be a valid boolean or 'best_trial'"):
        check_config(compose_cfg("train", [*train, "checkpoints.keep_best=best"], tmp_path), "train")
    with pytest.raises(UserError, match="search.seed=abc: must be a valid integer"):
        check_config(compose_cfg("train", [*train, "hparams_search=optuna", "search.seed=abc"], tmp_path), "train")


EARLY_ERRORS = [
    ("train", ["data=synthetic", "fold=7", "data.num_folds=2"], "fold=7: out of range"),
    ("train", ["data=synthetic", "checkpoints.keep_last=true", "checkpoints.resume_point=false"],
     "checkpoints.keep_last=true: "),
    ("train", ["data=wikiart", "data.csv_path=/nowhere/classes.csv"],
     "data.csv_path=/nowhere/classes.csv: file not found; set WIKIART_DIR=<folder> or paths.wikiart_dir=<folder>"),
    ("stylize", ["content=/nowhere/cat.jpg"], "content=/nowhere/cat.jpg: file not found"),
    ("stylize", ["content=PHOTO", "style=/nowhere/*.jpg"], "style=/nowhere/*.jpg: the pattern matches no image"),
    ("stylize", ["content=PHOTO", "paths.wikiart_dir=/nowhere"], "no style= given and the default Van Gogh painting "
     "/nowhere/Post_Impressionism/vincent-van-gogh_the-starry-night-1889.jpg does not exist; pass style="),
    ("train", ["experiment=synthetic_smoke", "fold=0", "ckpt_path=/nowhere/last.ckpt"],
     "ckpt_path=/nowhere/last.ckpt: checkpoint not found"),
    ("evaluate", ["task=classify", "task.images=/nowhere"], "task.images=/nowhere: file not found"),
    ("evaluate", ["task=classify", "task.checkpoint=/nowhere/best.ckpt", "task.images=PHOTO"],
     "task.checkpoint=/nowhere/best.ckpt: checkpoint not found"),
    ("evaluate", ["task=deception", "task.classifiers.vgg19=/nowhere/v.ckpt"],
     "task.classifiers.vgg19=/nowhere/v.ckpt: checkpoint not found; train one with `python train.py model=<backbone>` "
     "and select its best fold with `python evaluate.py task=select_folds task.runs=<that run folder>`"),
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
