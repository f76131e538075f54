"""Every config group option composes, and wrong keys fail at composition."""

from __future__ import annotations

import pytest
from hydra.errors import ConfigCompositionException
from omegaconf.errors import ConfigAttributeError

from tests.conftest import CONF, compose_cfg


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


@pytest.mark.parametrize("group", ["data", "model", "trainer", "callbacks", "logger", "debug",
                                   "experiment", "hparams_search"])
def test_every_train_group_option_composes(group, tmp_path):
    for option in options(group):
        cfg = compose_cfg("train", [f"{group}={option}"], tmp_path)
        assert cfg.task_name == "train"
        assert cfg.model.backbone in ("alexnet", "vgg19")


@pytest.mark.parametrize("backbone", ["alexnet", "vgg19"])
def test_stylize_backbones_compose(backbone, tmp_path):
    cfg = compose_cfg("stylize", [f"backbone={backbone}", "content=x.jpg"], tmp_path)
    assert cfg.backbone.name == backbone
    assert cfg.backbone.content_layers and cfg.backbone.style_layers


@pytest.mark.parametrize("task", ["select_folds", "classify", "deception", "dashboard"])
def test_evaluate_tasks_compose(task, tmp_path):
    assert compose_cfg("evaluate", [f"task={task}"], tmp_path).task.name == task


def test_model_group_selects_backbone_and_report_hyperparameters(tmp_path):
    alex = compose_cfg("train", ["model=alexnet"], tmp_path).model
    vgg = compose_cfg("train", ["model=vgg19"], tmp_path).model
    assert (alex.backbone, vgg.backbone) == ("alexnet", "vgg19")
    assert alex.lr == pytest.approx(1.0369e-05) and vgg.lr == pytest.approx(2.2012e-05)
    assert alex.trainable_feature_modules == vgg.trainable_feature_modules == 6


def test_train_defaults_follow_the_report(tmp_path):
    cfg = compose_cfg("train", [], tmp_path)
    assert cfg.data.num_folds == 5 and cfg.data.styles == ["Post_Impressionism"]
    assert cfg.data.positive_artist == "vincent van gogh"
    assert cfg.callbacks.early_stopping.patience == 2
    assert cfg.callbacks.model_checkpoint.monitor == "val/auroc"


def test_misspelled_key_is_rejected_naming_the_key(tmp_path):
    with pytest.raises((ConfigCompositionException, ConfigAttributeError), match="learning_rate"):
        compose_cfg("train", ["model.learning_rate=0.1"], tmp_path)


def test_unknown_group_option_lists_the_valid_ones(tmp_path):
    with pytest.raises(ConfigCompositionException, match="alexnet"):
        compose_cfg("train", ["model=resnet50"], tmp_path)


@pytest.mark.parametrize("launcher,target", [("local_parallel", "JoblibLauncher"),
                                             ("slurm", "SlurmLauncher")])
def test_launcher_configs_for_parallel_trials_and_slurm_compose(launcher, target):
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher")
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    cfg = compose_cfg("train", ["hparams_search=optuna", f"hydra/launcher={launcher}"], with_hydra=True)
    assert cfg.hydra.launcher._target_.endswith(target)


@pytest.mark.parametrize("script,groups", [
    ("train", ["data", "model", "trainer", "callbacks", "logger", "paths", "extras", "experiment", "hparams_search",
               "debug"]),
    ("stylize", ["backbone", "preset", "paths", "extras"]),
    ("evaluate", ["task", "paths", "extras"]),
    ("study", ["scale", "paths", "extras"]),
])
def test_each_scripts_help_lists_exactly_its_own_groups_and_their_options(script, groups, capsys):
    from tests.conftest import run_script

    assert run_script(f"{script}.py", "--help") == 0
    section = capsys.readouterr().out.split("== Config groups (group=option) ==")[1].split("== Config ")[0]
    listed = dict(line.split(": ", 1) for line in section.strip().splitlines())
    assert list(listed) == groups
    for group, shown in listed.items():
        assert shown.split(", ") == options(group), f"{script} --help: {group} options are stale"


def test_the_report_reproduction_preset_restores_its_training(tmp_path):
    cfg = compose_cfg("train", ["experiment=report_reproduction", "model=vgg19"], tmp_path)
    assert (cfg.data.split, cfg.data.split_seed, cfg.data.num_folds) == ("kfold", 42, 5)
    assert cfg.data.drop_duplicates is False and cfg.model.pos_weight is None
    assert cfg.trainer.max_epochs == 13
    stop = cfg.callbacks.early_stopping
    assert (stop.monitor, stop.mode, stop.patience) == ("val/loss", "min", 3)
    assert (cfg.callbacks.model_checkpoint.monitor, cfg.callbacks.model_checkpoint.mode) == ("val/loss", "min")
    assert cfg.model.lr == pytest.approx(2.2012e-05) and cfg.data.batch_size == 4  # the text's VGG-19 optimum
    notebook = compose_cfg("train", ["experiment=report_reproduction_notebook"], tmp_path)
    assert notebook.model.backbone == "alexnet" and notebook.trainer.max_epochs == 13
    assert (notebook.model.lr, notebook.model.weight_decay, notebook.data.batch_size) == (3.02e-05, 1.29e-05, 8)


def test_the_report_search_preset_has_its_budget_and_objective(tmp_path):
    cfg = compose_cfg("train", ["hparams_search=report_optuna"], tmp_path, with_hydra=True)
    assert cfg.hydra.sweeper.n_trials == 15 and cfg.trainer.max_epochs == 4
    assert cfg.hydra.sweeper.direction == "minimize" and cfg.monitor.metric == "val/loss"
    assert cfg.fold is None and cfg.search.pruner is None and cfg.data.split == "kfold"
    assert cfg.hydra.sweeper.params["model.trainable_feature_modules"] == "choice(6)"


def test_the_fast_search_preset_is_the_same_search_with_the_measured_sampler_and_pruner(tmp_path):
    base = compose_cfg("train", ["hparams_search=optuna"], tmp_path, with_hydra=True)
    fast = compose_cfg("train", ["hparams_search=optuna_fast"], tmp_path, with_hydra=True)
    assert fast.hydra.sweeper.sampler._target_ == "optuna.samplers.RandomSampler"
    assert base.hydra.sweeper.sampler._target_ == "optuna.samplers.TPESampler"
    assert (fast.search.pruner.n_startup_trials, fast.search.pruner.n_warmup_steps) == (2, 0)
    for key in ("params", "storage", "study_name", "n_trials", "direction", "_target_"):
        assert fast.hydra.sweeper[key] == base.hydra.sweeper[key], key
    assert fast.checkpoints == base.checkpoints


def test_the_report_stylize_preset(tmp_path):
    cfg = compose_cfg("stylize", ["preset=report", "content=x.jpg"], tmp_path)
    assert (cfg.optimizer, cfg.size, cfg.square, cfg.multiscale) == ("adam", 224, True, False)
    assert cfg.loss_normalisation == "report" and cfg.tv_weight == 0


@pytest.mark.parametrize("script,group,target", [
    ("train", "data", "vangogh_lightning.data.datamodule:VanGoghDataModule"),
    ("train", "model", "vangogh_lightning.models.classifier:VanGoghClassifier"),
    ("stylize", None, "vangogh_lightning.style.module:StyleTransfer"),  # its keys are stylize.yaml's top level
])
def test_python_keyword_defaults_are_the_composed_configs(script, group, target, tmp_path):
    """A notebook that builds the data module, the classifier or the style module gets conf/'s defaults."""
    import importlib
    import inspect

    from omegaconf import OmegaConf

    cfg = compose_cfg(script, ["content=x.jpg"] if script == "stylize" else [], tmp_path)
    section = cfg[group] if group else cfg
    conf, raw = OmegaConf.to_container(section, resolve=True), OmegaConf.to_container(section)
    module, name = target.split(":")
    params = inspect.signature(getattr(importlib.import_module(module), name)).parameters
    if group:  # the whole group goes to the constructor
        assert set(conf) - {"_target_"} <= set(params), f"{group} keys the constructor does not take"
    wrong = []
    for key, param in params.items():
        if key not in conf or param.default is inspect.Parameter.empty:
            continue
        default = list(param.default) if isinstance(param.default, tuple) else param.default
        # a place on this machine (paths.*): no default can equal it, so None
        if default != (None if "${paths." in str(raw[key]) else conf[key]):
            wrong.append(f"{key}={param.default!r} (conf/: {conf[key]!r})")
    assert not wrong, f"{name}: " + ", ".join(wrong)
