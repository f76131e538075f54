"""The type, range and choices of every config key a user can set: one pydantic model per script.

The defaults live in ``conf/`` alone (no field here has one); the models state what a value may be,
and :func:`check_config` validates a composed config against its script's model before any work
(no torch import). A bad value becomes one line naming the key: ``size=abc: must be an integer >= 16``.
Sections whose keys go to a constructor refuse unknown keys; open sections (``trainer``, ``paths``,
``callbacks``, ``logger``) check the keys named here and pass the rest on.

The choice types (:data:`Source`, :data:`Split`, ...) are the one place their values are written; the
modules that act on a choice import them. Backbone names are checked against ``core.backbone_registry``.
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from annotated_types import Ge, Gt, Le, Lt, MinLen
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, ValidationError, model_validator
from pydantic.fields import FieldInfo

from vangogh_lightning.core.backbone_registry import BackboneName, spec
from vangogh_lightning.core.errors import UserError

# ----- choices -------------------------------------------------------------------------------
Source = Literal["wikiart", "folder", "synthetic"]
Split = Literal["stratified", "kfold"]
OnMissing = Literal["error", "skip"]
Optimizer = Literal["lbfgs", "adam"]
Init = Literal["content", "style", "noise"]
LossNormalisation = Literal["relative", "report"]
Pooling = Literal["max", "avg"]
ConvPadding = Literal["zeros", "reflect", "replicate"]
SelectionRule = Literal["auroc", "combined"]
IntervalMethod = Literal["wilson", "clopper_pearson"]
Mode = Literal["min", "max"]
# Every validation metric a fold logs, in the order tables show them (the loss is minimised, the rest maximised).
MetricName = Literal["val/loss", "val/auroc", "val/f1", "val/acc", "val/bal_acc"]
# Lightning's accepted `precision` values (lightning.fabric.plugins.precision.precision._PRECISION_INPUT).
Precision = Literal["32-true", "16-mixed", "bf16-mixed", "16-true", "bf16-true", "64-true", "transformer-engine",
                    "transformer-engine-float16", "64", "32", "16", "bf16", 64, 32, 16]


def choices(choice: Any) -> tuple[Any, ...]:
    """The values of a ``Literal`` choice type, e.g. ``choices(Split) == ("stratified", "kfold")``."""
    return get_args(choice)


# ----- value types (pydantic's own constraints; the one-line message is derived from them) --------
def _bounded(base: Any, bounds: list[Any]) -> Any:
    return Annotated[(base, *bounds)] if bounds else base


def Int(low: int | None = None, high: int | None = None) -> Any:  # noqa: N802 - a type, spelled like one
    """An int (never a bool) within [low, high]."""
    return _bounded(StrictInt, [*([Ge(low)] if low is not None else []), *([Le(high)] if high is not None else [])])


def Number(low: float | None = None, high: float | None = None, open_low: bool = False,  # noqa: N802
           open_high: bool = False) -> Any:
    """An int or float (never a bool; NaN fails every bound) within the given bounds."""
    bounds = []
    if low is not None:
        bounds.append(Gt(low) if open_low else Ge(low))
    if high is not None:
        bounds.append(Lt(high) if open_high else Le(high))
    return _bounded(StrictFloat, bounds)


Text = Annotated[str, Field(strict=True, pattern=r"\S", description="a non-empty string")]
Texts = Annotated[list[Text], MinLen(1)]
TextOrTexts = Text | Texts
Share = Number(0, 1, open_low=True, open_high=True)
Device = Annotated[str, Field(strict=True, pattern=r"^(auto|cpu|cuda|mps|cuda:\d+)$",
                              description="auto, cpu, cuda, cuda:<n> or mps")]
Auto = Literal["auto"]
Target = Annotated[str, Field(alias="_target_")]


class Section(BaseModel):
    """Keys that go to a constructor: an unknown one is refused."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class OpenSection(BaseModel):
    """Keys checked here; any others are passed on (Trainer arguments, loggers, callbacks)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)


class ExtrasConfig(Section):
    print_config: StrictBool
    ignore_warnings: StrictBool


# ----- train.py --------------------------------------------------------------------------------
class DataConfig(Section):
    target: Target
    source: Source
    image_root: Text | None
    csv_path: Text | None
    styles: Texts
    positive_artist: Text
    on_missing: OnMissing
    drop_duplicates: StrictBool
    num_folds: Int(2)
    test_fraction: Number(0, 1, open_high=True)
    split_seed: StrictInt
    split: Split
    image_size: Int(32, 4096)
    batch_size: Int(1)
    num_workers: Auto | Int(0)
    pin_memory: StrictBool | None
    persistent_workers: StrictBool
    max_decode_side: Int(32) | None
    max_image_pixels: Int(1)
    validation_cache: StrictBool | Text
    input_cache: StrictBool | Text
    synthetic_count: Int(4)
    synthetic_positive_share: Share
    synthetic_render_size: Int(16, 4096)


class ModelConfig(Section):
    target: Target
    backbone: BackboneName
    pretrained: StrictBool
    weights_path: Text | None
    trainable_feature_modules: Int(0)
    trainable_classifier_layers: Int(1) | None
    lr: Number(0, open_low=True)
    weight_decay: Number(0)
    pos_weight: Auto | Number(0, open_low=True) | None
    threshold: Share
    channels_last: StrictBool
    compile: StrictBool


class TrainerConfig(OpenSection):
    max_epochs: Int(-1)
    min_epochs: Int(0)
    precision: Precision
    log_every_n_steps: Int(1)
    check_val_every_n_epoch: Int(1)
    num_sanity_val_steps: Int(-1)
    deterministic: StrictBool | Literal["warn"]
    enable_progress_bar: StrictBool
    enable_model_summary: StrictBool


class EarlyStoppingConfig(OpenSection):
    patience: Int(0)
    min_delta: Number(0)
    mode: Mode


class CheckpointCallbackConfig(OpenSection):
    mode: Mode


class CallbacksConfig(OpenSection):
    early_stopping: EarlyStoppingConfig | None = None  # absent with callbacks=none or early_stopping=null
    model_checkpoint: CheckpointCallbackConfig | None = None


class WandbLoggerConfig(OpenSection):
    offline: Auto | StrictBool


class LoggerConfig(OpenSection):
    wandb: WandbLoggerConfig | None = None  # only with logger=wandb


class CheckpointsConfig(Section):
    keep_best: StrictBool | Literal["best_trial"]
    keep_last: StrictBool
    resume_point: StrictBool


class SearchConfig(Section):
    seed: StrictInt | None
    pruner: dict[str, Any] | None
    trial: Int(0) | None


class MonitorConfig(Section):
    metric: MetricName
    mode: Mode


def fold_problem(fold: Any, num_folds: int) -> str | None:
    """Why ``fold`` is not a 0-based fold of ``num_folds`` (None when it is)."""
    if isinstance(fold, int) and not isinstance(fold, bool) and 0 <= fold < num_folds:
        return None
    return (f"fold={fold}: out of range; folds are 0-based, so data.num_folds={num_folds} "
            f"allows fold=0..{num_folds - 1}")


class TrainConfig(Section):
    task_name: Text
    tags: list[Text]
    extras: ExtrasConfig
    seed: StrictInt
    fold: Int(0) | None
    ckpt_path: Text | None
    checkpoints: CheckpointsConfig
    max_image_pixels: Int(1)
    monitor: MonitorConfig
    data: DataConfig
    model: ModelConfig
    trainer: TrainerConfig
    callbacks: CallbacksConfig
    logger: LoggerConfig
    paths: OpenSection
    search: SearchConfig | None = None  # only in a search (hparams_search=...)

    @model_validator(mode="after")
    def _keys_that_are_only_wrong_together(self) -> TrainConfig:
        if self.fold is not None:
            problem = fold_problem(self.fold, self.data.num_folds)
            if problem:
                raise UserError(problem)
        elif self.ckpt_path not in (None, "last"):
            raise UserError(f"ckpt_path={self.ckpt_path}: a checkpoint file resumes one fold; add fold=<k> "
                            "(or use ckpt_path=last to resume every fold of the run)")
        smallest = spec(self.model.backbone).min_size
        if self.data.image_size < smallest:
            raise UserError(f"data.image_size={self.data.image_size}: too small for {self.model.backbone}, whose "
                            f"layers need at least {smallest} px; use data.image_size={smallest} or more")
        if self.checkpoints.keep_last and not self.checkpoints.resume_point:
            raise UserError("checkpoints.keep_last=true: there is no last.ckpt to keep with "
                            "checkpoints.resume_point=false; set checkpoints.resume_point=true")
        return self


# ----- stylize.py ------------------------------------------------------------------------------
class BackboneConfig(Section):
    name: BackboneName
    pretrained: StrictBool
    weights_path: Text | None
    pooling: Pooling
    content_layers: TextOrTexts
    style_layers: TextOrTexts
    content_layer_weights: Annotated[list[Number(0)], MinLen(1)] | None
    style_layer_weights: Annotated[list[Number(0)], MinLen(1)] | None
    border_padding: Int(0)
    conv_padding: ConvPadding


class StyleSettings(BaseModel):
    """Loss balance, optimiser and schedule of one stylize run: what the engine needs
    (``conf/stylize.yaml`` documents each key and holds its default)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    size: Int(16, 16384)
    square: StrictBool
    multiscale: Auto | StrictBool
    min_scale: Int(16)
    steps: Int(1)
    coarse_steps: Int(1) | None
    optimizer: Optimizer
    lr: Number(0, open_low=True) | None
    lbfgs_history: Int(1)
    init: Init
    seed: StrictInt
    content_weight: Number(0)
    style_weight: Number(0)
    tv_weight: Number(0)
    loss_normalisation: LossNormalisation
    precision: Precision
    progress_bar: StrictBool
    save_every: Int(0)
    judge_weight: Number(0)


class StylizeConfig(StyleSettings):
    model_config = ConfigDict(extra="allow", frozen=True)

    task_name: Text
    extras: ExtrasConfig
    max_image_pixels: Int(1)
    overwrite: StrictBool
    content: TextOrTexts
    style: TextOrTexts | None
    style_weights: Annotated[list[Number(0)], MinLen(1)] | None
    default_style: Text
    preserve_colors: StrictBool
    batch_size: Auto | Int(1)
    device: Device
    out_dir: Text
    backbone: BackboneConfig
    paths: OpenSection
    judge: Text | None

    @model_validator(mode="after")
    def _a_judge_weight_needs_a_judge(self) -> StylizeConfig:
        if self.judge_weight > 0 and self.judge is None:
            raise UserError(f"judge_weight={self.judge_weight:g}: there is no judge to aim at; pass "
                            "judge=<a classifier checkpoint of train.py> (e.g. outputs/selected/alexnet.ckpt)")
        return self


# ----- evaluate.py -----------------------------------------------------------------------------
class SelectFoldsTask(Section):
    name: Literal["select_folds"]
    runs: TextOrTexts | None
    rule: SelectionRule
    selected_dir: Text
    latest: Text | None
    link: StrictBool
    wandb: Auto | StrictBool


class ClassifyTask(Section):
    name: Literal["classify"]
    checkpoint: Text | None
    images: TextOrTexts | None
    threshold: Share | None
    batch_size: Int(1, 4096)
    evidence: StrictBool
    evidence_layer: Text | None


class DeceptionTask(Section):
    name: Literal["deception"]
    classifiers: dict[BackboneName, Text | None]
    stylized: dict[BackboneName, TextOrTexts | None]
    targeted: dict[BackboneName, TextOrTexts | None]
    threshold: Share
    batch_size: Int(1, 4096)
    confidence: Share
    interval: IntervalMethod
    controls: StrictBool
    control_photos: TextOrTexts | None
    paired_tests: StrictBool
    fold_judges: StrictBool
    threshold_curve: StrictBool
    evidence: StrictBool
    evidence_layers: dict[BackboneName, Text | None]
    evidence_top_k: Int(0, 100)


class DashboardTask(Section):
    name: Literal["dashboard"]
    project: Text
    entity: Text | None
    title: Text
    runs: Literal["train", "trial"]
    offline: Auto | StrictBool


class TestTask(Section):
    name: Literal["test"]
    checkpoint: Text | None
    threshold: Share | None
    batch_size: Int(1, 4096)


EvaluateTask = Annotated[SelectFoldsTask | ClassifyTask | DeceptionTask | DashboardTask | TestTask,
                         Field(discriminator="name")]


class EvaluateConfig(OpenSection):
    task_name: Text
    extras: ExtrasConfig
    out_dir: Text
    overwrite: StrictBool
    device: Device
    max_image_pixels: Int(1)
    task: EvaluateTask
    paths: OpenSection


# ----- study.py --------------------------------------------------------------------------------
class StudyConfig(OpenSection):
    task_name: Text
    extras: ExtrasConfig
    out_dir: Text
    search: StrictBool
    search_overrides: list[Text]
    backbones: Annotated[list[BackboneName], MinLen(1)]
    train_overrides: list[Text]
    content: TextOrTexts
    styles: Texts
    stylize_overrides: list[Text]
    targeted: StrictBool
    judge_weight: Number(0, open_low=True)
    rule: SelectionRule
    threshold: Share
    max_image_pixels: Int(1)
    paths: OpenSection


SCHEMAS: dict[str, type[BaseModel]] = {"train": TrainConfig, "stylize": StylizeConfig, "evaluate": EvaluateConfig,
                                       "study": StudyConfig}


# ----- from a pydantic error to one line -------------------------------------------------------
def _bound(meta: Any) -> str | None:
    for kind, attr, sign in ((Ge, "ge", ">="), (Gt, "gt", ">"), (Le, "le", "<="), (Lt, "lt", "<")):
        if isinstance(meta, kind):
            return f"{sign} {getattr(meta, attr):g}"
    return None


def _members(annotation: Any) -> list[Any]:
    """The alternatives of a union (a plain annotation is its own only alternative)."""
    if get_origin(annotation) in (Union, types.UnionType):
        return [m for arg in get_args(annotation) for m in _members(arg)]
    return [annotation]


def _is_bool(annotation: Any) -> bool:
    return annotation is bool or get_origin(annotation) is Annotated and get_args(annotation)[0] is bool


def _shown(option: Any) -> str:
    return str(option).lower() if isinstance(option, bool) else str(option)


def describe(annotation: Any) -> str:
    """What a value of ``annotation`` must be, in words: ``an integer >= 1``, ``null or one of auto or
    a number > 0``. Literals and booleans that stand side by side in a union read as one choice."""
    members = _members(annotation)
    parts = ["null"] if type(None) in members else []
    options: list[str] = []
    for member in [m for m in members if m is not type(None)]:
        if get_origin(member) is Literal or (_is_bool(member) and len(members) > 1):
            options += [_shown(o) for o in (get_args(member) if get_origin(member) is Literal else (True, False))]
            continue
        if options:
            parts.append("one of " + ", ".join(dict.fromkeys(options)))
            options = []
        parts.append(_describe_one(member))
    if options:
        parts.append("one of " + ", ".join(dict.fromkeys(options)))
    return " or ".join(parts)


def _describe_one(annotation: Any) -> str:
    base, metadata = annotation, []
    if get_origin(annotation) is Annotated:
        base, *metadata = get_args(annotation)
    described = [m.description for m in metadata if isinstance(m, FieldInfo) and m.description]
    if described:
        return described[0]
    bounds = " and ".join(b for b in map(_bound, metadata) if b)
    if base is int:
        return " ".join(filter(None, ["an integer", bounds]))
    if base is float:
        return " ".join(filter(None, ["a number", bounds]))
    if _is_bool(base):
        return "true or false"
    if get_origin(base) is list:
        least = [m.min_length for m in metadata if isinstance(m, MinLen)]
        size = f" of at least {least[0]} item(s)" if least else ""
        return f"a list{size}, each {describe(get_args(base)[0])}"
    if get_origin(base) is dict:
        return "a mapping"
    if isinstance(base, type) and issubclass(base, BaseModel):
        return "a section of keys"
    return "a value"


def _show(value: Any) -> str:
    shown = str(value)
    return shown if len(shown) <= 60 else shown[:57] + "..."


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    return [m for m in _members(annotation) if isinstance(m, type) and issubclass(m, BaseModel)]


def _field_annotation(info: FieldInfo) -> Any:
    """A field's type with its constraints and description, as it was written."""
    extra = [*info.metadata, *([Field(description=info.description)] if info.description else [])]
    return _bounded(info.annotation, extra)


def _field_at(model: type[BaseModel], loc: tuple[Any, ...], data: Any) -> tuple[list[str], Any, Any]:
    """(key parts, annotation, value) of the deepest config key an error location names."""
    keys: list[str] = []
    annotation: Any = model
    for part in loc:
        sections = _models_in(annotation)
        tagged = {get_args(m.model_fields["name"].annotation)[0]: m for m in sections
                  if get_origin(m.model_fields.get("name") and m.model_fields["name"].annotation) is Literal}
        if len(sections) > 1 and part in tagged:  # the tag of a discriminated union (task=classify): not a key
            annotation = tagged[part]
            continue
        fields = {(f.alias or n): f for m in sections for n, f in m.model_fields.items()}
        if part not in fields or not isinstance(data, Mapping):
            break
        annotation = _field_annotation(fields[part])
        keys.append(part)
        data = data.get(part)
    return keys, annotation, data


def _one_line(model: type[BaseModel], error: Mapping[str, Any], data: Mapping[str, Any]) -> str:
    keys, annotation, value = _field_at(model, tuple(error["loc"]), data)
    key = ".".join(keys)
    if error["type"] == "missing":
        return f"{key}: missing; conf/ sets it (was it removed with ~{key}?)"
    if error["type"] == "extra_forbidden":
        known = ", ".join(f.alias or n for m in _models_in(annotation) for n, f in m.model_fields.items())
        return f"{'.'.join([*keys, str(error['loc'][-1])])}: not a key of {key or 'the config'}; its keys are {known}"
    if error["type"] in ("union_tag_invalid", "union_tag_not_found"):
        tags = [get_args(m.model_fields["name"].annotation)[0] for m in _models_in(annotation)]
        name = value.get("name") if isinstance(value, Mapping) else None
        return f"{key}.name={_show(name)}: must be one of {', '.join(tags)}"
    return f"{key}={_show(value)}: must be {describe(annotation)}"


def resolved(cfg: DictConfig) -> dict[str, Any]:
    """The config as plain values, every interpolation resolved (one that cannot be is a one-line error)."""
    try:
        return OmegaConf.to_container(cfg, resolve=True)
    except OmegaConfBaseException as exc:
        key = getattr(exc, "full_key", None) or "config"
        raise UserError(f"{key}: cannot be resolved ({str(exc).splitlines()[0]})") from None


def check_config(cfg: DictConfig | Mapping[str, Any], script: str) -> BaseModel:
    """Validate ``cfg`` against ``script``'s model (train, stylize, evaluate or study); return the model.

    The first bad key raises :class:`UserError` with one line: ``<key>=<value>: must be <what>``.
    """
    data = resolved(cfg) if isinstance(cfg, DictConfig) else dict(cfg)
    model = SCHEMAS[script]
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise UserError(_one_line(model, exc.errors()[0], data)) from None

