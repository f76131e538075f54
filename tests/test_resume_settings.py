"""A command into an existing run folder keeps the run's results: the settings check of config/run_record.py."""

from __future__ import annotations

import pytest

from tests.conftest import compose_cfg
from vangogh_lightning.config.run_record import check_resume, record_settings
from vangogh_lightning.config.schema import WHETHER_ON, result_neutral, results_mark
from vangogh_lightning.core.errors import UserError

STARTED = ["experiment=synthetic_smoke", "fold=0", "data.num_folds=2", "data.image_size=64"]

# one or more keys of each group that changes what a fold learns or how it is scored
RESULT_CHANGING = {
    "data": ["data.image_size=96", "data.batch_size=4", "data.split_seed=1", "data.num_folds=3",
             "data.synthetic_count=48", "data.split=kfold", "data.feature_cache=false", "data.input_cache=false",
             "data.feature_cache_views=3", "data.feature_cache_seed=1"],
    "model": ["model=vgg19", "model.lr=0.01", "model.trainable_feature_modules=2", "model.weight_decay=0.1",
              "model.threshold=0.3"],
    "trainer": ["trainer.max_epochs=5", "trainer.precision=bf16-mixed", "+trainer.limit_train_batches=2",
                "+trainer.gradient_clip_val=1.0", "trainer.min_epochs=2"],
    "early stopping": ["callbacks.early_stopping.patience=5", "callbacks.early_stopping=null"],
    "monitor": ["monitor.metric=val/loss"],
    "seed": ["seed=1"],
}
ALLOWED = ["data.num_workers=2", "trainer.enable_progress_bar=true", "trainer.log_every_n_steps=5",
           "logger=tensorboard", "fold=1", "checkpoints.keep_last=true", "ckpt_path=last",
           "+callbacks.extra._target_=x.Y", "data.validation_cache=false", "tags=[again]", "extras.print_config=false",
           "data.feature_cache=/elsewhere/features", "data.input_cache=/elsewhere/inputs"]  # (moved, still on)


@pytest.fixture
def run_dir(tmp_path):
    record_settings(compose_cfg("train", STARTED, tmp_path))
    return tmp_path


@pytest.mark.parametrize("change", [c for group in RESULT_CHANGING.values() for c in group])
def test_a_change_to_what_the_run_learns_is_refused_naming_the_key_and_both_values(run_dir, change):
    cfg = compose_cfg("train", [*STARTED, change], run_dir)
    with pytest.raises(UserError, match="this command would change the run's results: ") as info:
        check_resume(cfg)
    message = str(info.value)
    key = "model.backbone" if change == "model=vgg19" else change.lstrip("+").split("=")[0]
    assert f"{key}=" in message and " when started, " in message
    assert f"ckpt_path=last hydra.run.dir={run_dir}) or choose a new hydra.run.dir" in message  # (the run's
    # own overrides lead that command; tests/test_resume.py checks them on a real command line)


@pytest.mark.parametrize("change", ALLOWED)
def test_a_change_that_leaves_results_alone_is_allowed_and_recorded(run_dir, change):
    import json

    check_resume(compose_cfg("train", [*STARTED, change], run_dir))
    record = json.loads((run_dir / "run_settings.json").read_text())
    assert len(record["resumes"]) == 1


def test_a_run_from_before_the_feature_cache_resumes_without_it_and_a_refusal_says_so(run_dir):
    import json

    path = run_dir / "run_settings.json"
    record = json.loads(path.read_text())
    for key in ("feature_cache", "feature_cache_views", "feature_cache_seed"):
        del record["settings"]["data"][key]
    path.write_text(json.dumps(record))
    with pytest.raises(UserError, match=r"data.feature_cache=\(absent\) when started, True now; resume with the run's "
                                        r"own settings \(python train.py .*data.feature_cache=false ckpt_path=last"):
        check_resume(compose_cfg("train", STARTED, run_dir))
    check_resume(compose_cfg("train", [*STARTED, "data.feature_cache=false"], run_dir))


def test_a_new_run_folder_has_nothing_to_compare(tmp_path):
    check_resume(compose_cfg("train", [*STARTED, "data.image_size=96"], tmp_path))
    assert not (tmp_path / "run_settings.json").exists()


def test_whether_a_key_changes_results_is_one_marker_on_its_field():
    # a marked field covers the keys below it; a marked open section (callbacks) its unknown keys
    assert all(map(result_neutral, ["data.num_workers", "logger.wandb.offline", "paths.output_dir", "search.seed",
                                    "callbacks.log_progress.every_s", "callbacks.model_checkpoint.dirpath",
                                    "hydra.run.dir", "trainer.accelerator"]))
    assert not any(map(result_neutral, ["data", "model.lr", "callbacks", "callbacks.early_stopping.patience",
                                        "trainer.limit_train_batches", "seed"]))
    study = [k for k in ["out_dir", "backbones", "threshold", "paths.log_dir"] if not result_neutral(k, "study")]
    assert study == ["backbones", "threshold"]
    # a cache: whether it is on changes results, which folder it is in does not
    assert [results_mark(k) for k in ("data.feature_cache", "data.input_cache", "data.validation_cache")] == [
        WHETHER_ON, WHETHER_ON, False]
