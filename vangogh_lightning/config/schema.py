"""The type, range and choices of every config key a user can set: one pydantic model per script.

The defaults live in ``conf/`` alone (no field here has one, but for keys only some presets set).
:func:`check_config` validates a composed config, input files included, before any work (no torch import);
a bad value becomes one line naming the key: ``data.batch_size=0: must be greater than 0``. Open sections
(``trainer``, ``paths``, ``callbacks``, ``logger``) pass unknown keys on. A field that cannot change results
carries ``affects_results: False`` (:func:`result_neutral`), a cache's ``"whether on"`` (its folder cannot).
The choice types (:data:`Source`, ...) are the one place their values are written."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator
from pydantic.types import NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt

from vangogh_lightning.core.backbone_registry import BACKBONES, BackboneName
from vangogh_lightning.core.errors import UserError
from vangogh_lightning.core.images import expand_images
from vangogh_lightning.core.torch_files import require_file

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
choices = get_args  # the values of a choice type: choices(Split) == ("stratified", "kfold")


# ----- value types (sections are strict: no bool passes as a number, no string as a bool; floats are finite)
Text = Annotated[str, StringConstraints(pattern=r"\S")]
Texts = Annotated[list[Text], Field(min_length=1)]
TextOrTexts = Text | Texts
Share = Annotated[float, Field(gt=0, lt=1)]
Weights = Annotated[list[NonNegativeFloat], Field(min_length=1)]
Device = Annotated[str, StringConstraints(pattern=r"^(auto|cpu|cuda|mps|cuda:\d+)$")]
Auto = Literal["auto"]
Target = Annotated[str, Field(alias="_target_")]
NEUTRAL = Field(json_schema_extra={"affects_results": False})  # the key cannot change results
WHETHER_ON = "whether on"
# a cache: only whether it is on can change results (true and a folder of one's own give the same)
ON_OFF = Field(json_schema_extra={"affects_results": WHETHER_ON})

# A field check's message names the checked key by FIELD; the one-line error puts the dotted key there.
FIELD = "\0"  # (no path or override holds a NUL)


def _run(check: Callable[[Any], object], value: Any) -> Any:
    """``check(value)`` by a ``core`` function whose :class:`UserError` (naming FIELD) becomes pydantic's
    own value_error."""
    try:
        check(value)
    except UserError as exc:
        raise ValueError(str(exc)) from None
    return value


Checkpoint = Annotated[Text, AfterValidator(partial(_run, lambda path: require_file(path, FIELD, "checkpoint")))]
# A classifier to judge with: where a missing one comes from.
MAKE_CLASSIFIER = ("train one with `python train.py model=<backbone>` and select its best fold with "
                   "`python evaluate.py task=select_folds task.runs=<that run folder>` (writes "
                   "outputs/selected/<backbone>.ckpt), or run study.py, which does both")
Classifier = Annotated[Text, AfterValidator(partial(_run, lambda path: require_file(path, FIELD, "checkpoint",
                                                                                    MAKE_CLASSIFIER)))]
Images = Annotated[TextOrTexts, AfterValidator(partial(_run, lambda images: expand_images(images, what=FIELD)))]


def check_csv_path(csv_path: str | Path, key: str = "data.csv_path") -> Path:
    """The WikiArt ``classes.csv`` exists (its content is checked when it is read)."""
    return require_file(csv_path, key, "file", "set WIKIART_DIR=<folder> or paths.wikiart_dir=<folder> to the folder "
                        "holding WikiArt's classes.csv (or data.csv_path to the file itself)")


class Section(BaseModel):
    """Keys that go to a constructor: an unknown one is refused."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, strict=True, allow_inf_nan=False)


class OpenSection(Section):
    """Keys checked here; any others are passed on (Trainer arguments, loggers, callbacks)."""

    model_config = ConfigDict(extra="allow")


class ExtrasConfig(Section):
    print_config: bool
    ignore_warnings: bool


# ----- train.py --------------------------------------------------------------------------------
class DataConfig(Section):
    target: Target
    source: Source
    image_root: Text | None
    csv_path: Text | None
    styles: Texts
    positive_artist: Text
    on_missing: OnMissing
    drop_duplicates: bool
    num_folds: Annotated[int, Field(ge=2)]
    test_fraction: Annotated[float, Field(ge=0, lt=1)]
    split_seed: int
    split: Split
    image_size: Annotated[int, Field(ge=32, le=4096)]
    batch_size: PositiveInt
    num_workers: Annotated[Auto | NonNegativeInt, NEUTRAL]
    pin_memory: Annotated[bool | None, NEUTRAL]
    persistent_workers: Annotated[bool, NEUTRAL]
    max_decode_side: Annotated[int, Field(ge=32)] | None
    max_image_pixels: Annotated[PositiveInt, NEUTRAL]
    validation_cache: Annotated[bool | Text, NEUTRAL]
    input_cache: Annotated[bool | Text, ON_OFF]
    feature_cache: Annotated[bool | Text, ON_OFF]
    feature_cache_views: PositiveInt | None
    feature_cache_seed: int
    synthetic_count: Annotated[int, Field(ge=4)]
    synthetic_positive_share: Share
    synthetic_render_size: Annotated[int, Field(ge=16, le=4096)]

    @model_validator(mode="after")
    def _wikiart_has_its_csv(self) -> DataConfig:
        if self.source == "wikiart":
            _run(lambda path: check_csv_path(path, f"{FIELD}.csv_path"), str(self.csv_path))
        return self


class ModelConfig(Section):
    target: Target
    backbone: BackboneName
    pretrained: bool
    weights_path: Text | None
    trainable_feature_modules: NonNegativeInt
    trainable_classifier_layers: PositiveInt | None
    lr: PositiveFloat
    weight_decay: NonNegativeFloat
    pos_weight: Auto | PositiveFloat | None
    threshold: Share
    channels_last: bool
    compile: bool


class TrainerConfig(OpenSection):
    max_epochs: Annotated[int, Field(ge=-1)]
    min_epochs: NonNegativeInt
    precision: Precision
    log_every_n_steps: Annotated[PositiveInt, NEUTRAL]
    check_val_every_n_epoch: PositiveInt
    num_sanity_val_steps: Annotated[int, Field(ge=-1)]
    deterministic: bool | Literal["warn"]
    enable_progress_bar: Annotated[bool, NEUTRAL]
    enable_model_summary: Annotated[bool, NEUTRAL]
    accelerator: Annotated[Text, NEUTRAL]
    default_root_dir: Annotated[Text, NEUTRAL]
    profiler: Annotated[Text | dict[str, Any] | None, NEUTRAL] = None  # only with debug=profiler


class EarlyStoppingConfig(OpenSection):
    patience: NonNegativeInt
    min_delta: NonNegativeFloat
    mode: Mode


class CheckpointCallbackConfig(OpenSection):
    mode: Mode


class CallbacksConfig(OpenSection):
    # Only early stopping changes results; the other callbacks save, log or report.
    model_config = ConfigDict(json_schema_extra={"affects_results": False})

    early_stopping: EarlyStoppingConfig | None = None  # absent with callbacks=none or early_stopping=null
    model_checkpoint: Annotated[CheckpointCallbackConfig | None, NEUTRAL] = None


class WandbLoggerConfig(OpenSection):
    offline: Auto | bool


class LoggerConfig(OpenSection):
    wandb: WandbLoggerConfig | None = None  # only with logger=wandb


class CheckpointsConfig(Section):
    keep_best: bool | Literal["best_trial"]
    keep_last: bool
    resume_point: bool


class SearchConfig(Section):
    seed: int | None
    pruner: dict[str, Any] | None
    trial: NonNegativeInt | None
    wandb_group: Text | None = None  # (hparams_search/optuna.yaml; a search config of one's own may leave them out)
    wandb_job_type: Text | None = None


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
    tags: Annotated[list[Annotated[Text, StringConstraints(max_length=64)]], NEUTRAL]  # (W&B's limit on a tag)
    extras: Annotated[ExtrasConfig, NEUTRAL]
    seed: int
    fold: Annotated[NonNegativeInt | None, NEUTRAL]
    # null (fresh run), last (each fold's last.ckpt) or a checkpoint file
    ckpt_path: Annotated[Literal["last"] | Checkpoint | None, NEUTRAL]
    checkpoints: Annotated[CheckpointsConfig, NEUTRAL]
    max_image_pixels: Annotated[PositiveInt, NEUTRAL]
    monitor: MonitorConfig
    data: DataConfig
    model: ModelConfig
    trainer: TrainerConfig
    callbacks: CallbacksConfig
    logger: Annotated[LoggerConfig, NEUTRAL]
    paths: Annotated[OpenSection, NEUTRAL]
    search: Annotated[SearchConfig | None, NEUTRAL] = None  # only in a search (hparams_search=...)

    @model_validator(mode="after")
    def _keys_that_are_only_wrong_together(self) -> TrainConfig:
        if self.fold is not None and (problem := fold_problem(self.fold, self.data.num_folds)):
            raise ValueError(problem)
        if self.fold is None and self.ckpt_path not in (None, "last"):
            raise ValueError(f"ckpt_path={self.ckpt_path}: a checkpoint file resumes one fold; add fold=<k> "
                             "(or use ckpt_path=last to resume every fold of the run)")
        smallest = BACKBONES[self.model.backbone].min_size
        if self.data.image_size < smallest:
            raise ValueError(f"data.image_size={self.data.image_size}: too small for {self.model.backbone}, whose "
                             f"layers need at least {smallest} px; use data.image_size={smallest} or more")
        if self.checkpoints.keep_last and not self.checkpoints.resume_point:
            raise ValueError("checkpoints.keep_last=true: there is no last.ckpt to keep with "
                             "checkpoints.resume_point=false; set checkpoints.resume_point=true")
        return self


# ----- stylize.py ------------------------------------------------------------------------------
class BackboneConfig(Section):
    name: BackboneName
    pretrained: bool
    weights_path: Text | None
    pooling: Pooling
    content_layers: TextOrTexts
    style_layers: TextOrTexts
    content_layer_weights: Weights | None
    style_layer_weights: Weights | None
    border_padding: NonNegativeInt
    conv_padding: ConvPadding


class StyleSettings(BaseModel):
    """Loss balance, optimiser and schedule of one stylize run (``conf/stylize.yaml`` documents each key)."""

    model_config = ConfigDict(extra="ignore", frozen=True, strict=True, allow_inf_nan=False)

    size: Annotated[int, Field(ge=16, le=16384)]
    square: bool
    multiscale: Auto | bool
    min_scale: Annotated[int, Field(ge=16)]
    steps: PositiveInt
    coarse_steps: PositiveInt | None
    optimizer: Optimizer
    lr: PositiveFloat | None
    lbfgs_history: PositiveInt
    init: Init
    seed: int
    content_weight: NonNegativeFloat
    style_weight: NonNegativeFloat
    tv_weight: NonNegativeFloat
    loss_normalisation: LossNormalisation
    precision: Precision
    progress_bar: bool
    save_every: NonNegativeInt
    judge_weight: NonNegativeFloat


class LogProgressConfig(Section):
    every_s: NonNegativeFloat
    when: Literal["auto", "always", "never"]


class StylizeConfig(StyleSettings):
    model_config = ConfigDict(extra="allow", frozen=True)

    task_name: Text
    extras: ExtrasConfig
    max_image_pixels: PositiveInt
    overwrite: bool
    content: Images
    style: Images | None
    style_weights: Weights | None
    default_style: Text
    preserve_colors: bool
    batch_size: Auto | PositiveInt
    device: Device
    out_dir: Text
    backbone: BackboneConfig
    paths: OpenSection
    judge: Classifier | None
    log_progress: LogProgressConfig

    @model_validator(mode="after")
    def _the_style_and_the_judge_exist(self) -> StylizeConfig:
        if self.judge_weight > 0 and self.judge is None:
            raise ValueError(f"judge_weight={self.judge_weight:g}: there is no judge to aim at; pass "
                             "judge=<a classifier checkpoint of train.py> (e.g. outputs/selected/alexnet.ckpt)")
        if self.style is None and not Path(self.default_style).is_file():  # (checked before torch loads)
            raise ValueError(f"no style= given and the default Van Gogh painting {self.default_style} does not "
                             "exist; pass style=path/to/painting.jpg (or set paths.wikiart_dir)")
        return self


# ----- evaluate.py -----------------------------------------------------------------------------
class SelectFoldsTask(Section):
    name: Literal["select_folds"]
    runs: TextOrTexts | None
    rule: SelectionRule
    selected_dir: Text
    latest: Text | None
    link: bool
    wandb: Auto | bool
    allow_debug: bool


class ClassifyTask(Section):
    name: Literal["classify"]
    checkpoint: Classifier | None
    images: Images | None
    threshold: Share | None
    batch_size: Annotated[int, Field(ge=1, le=4096)]
    evidence: bool
    evidence_layer: Text | None


class DeceptionTask(Section):
    name: Literal["deception"]
    classifiers: dict[BackboneName, Classifier | None]
    stylized: dict[BackboneName, TextOrTexts | None]
    targeted: dict[BackboneName, TextOrTexts | None]
    threshold: Share | Literal["oof"]  # oof: each judge's own (Youden's J on its out-of-fold predictions)
    batch_size: Annotated[int, Field(ge=1, le=4096)]
    confidence: Share
    interval: IntervalMethod
    controls: bool
    control_photos: TextOrTexts | None
    paired_tests: bool
    fold_judges: bool
    threshold_curve: bool
    evidence: bool
    evidence_layers: dict[BackboneName, Text | None]
    evidence_top_k: Annotated[int, Field(ge=0, le=100)]


class DashboardTask(Section):
    name: Literal["dashboard"]
    project: Text
    entity: Text | None
    title: Text
    runs: Literal["train", "trial"]
    offline: Auto | bool


class TestTask(Section):
    name: Literal["test"]
    checkpoint: Classifier | None
    threshold: Share | None
    batch_size: Annotated[int, Field(ge=1, le=4096)]


EvaluateTask = Annotated[SelectFoldsTask | ClassifyTask | DeceptionTask | DashboardTask | TestTask,
                         Field(discriminator="name")]


class EvaluateConfig(OpenSection):
    task_name: Text
    extras: ExtrasConfig
    out_dir: Text
    overwrite: bool
    device: Device
    max_image_pixels: PositiveInt
    task: EvaluateTask
    paths: OpenSection


# ----- study.py --------------------------------------------------------------------------------
class StudyConfig(OpenSection):
    task_name: Annotated[Text, NEUTRAL]
    extras: Annotated[ExtrasConfig, NEUTRAL]
    out_dir: Annotated[Text, NEUTRAL]
    search: bool
    search_overrides: list[Text]
    backbones: Annotated[list[BackboneName], Field(min_length=1)]
    train_overrides: list[Text]
    content: TextOrTexts
    styles: Texts
    stylize_overrides: list[Text]
    targeted: bool
    judge_weight: PositiveFloat
    rule: SelectionRule
    threshold: Share | Literal["oof"]
    allow_debug: Annotated[bool, NEUTRAL]
    max_image_pixels: Annotated[PositiveInt, NEUTRAL]
    paths: Annotated[OpenSection, NEUTRAL]


SCHEMAS: dict[str, type[BaseModel]] = {"train": TrainConfig, "stylize": StylizeConfig, "evaluate": EvaluateConfig,
                                       "study": StudyConfig}


def _models(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in get_args(annotation) for m in _models(arg)]


def result_neutral(key: str, script: str = "train") -> bool:
    """True when the dotted ``key`` (``data.num_workers``) cannot change ``script``'s results."""
    return results_mark(key, script) is False


def results_mark(key: str, script: str = "train") -> bool | str:
    """Whether the dotted ``key`` can change ``script``'s results: its field's ``affects_results`` mark
    (``False``, or :data:`WHETHER_ON` for a cache), ``True`` where none is set.

    A field so marked covers itself and every key below it; an open section so marked covers its unknown
    keys. Hydra's own keys (``hydra.*``) never reach the task."""
    if key.split(".")[0] == "hydra":
        return False
    model = SCHEMAS[script]
    for part in key.split("."):
        field = next((f for name, f in model.model_fields.items() if part in (name, f.alias)), None)
        marks = field.json_schema_extra if field else model.model_config.get("json_schema_extra")
        if isinstance(marks, dict) and "affects_results" in marks:
            return marks["affects_results"]
        inner = _models(field.annotation) if field else []
        if len(inner) != 1:
            return True
        model = inner[0]
    return True


# ----- from a pydantic error to one line -------------------------------------------------------
def _key(error: Mapping[str, Any], data: Any) -> tuple[str, Any]:
    """The dotted key an error is about and the data of the section holding it. Pydantic's ``loc`` also
    names a union's member (``literal['auto']``) and a tagged union's tag (``classify``): no key of the data."""
    keys, section, value, loc = [], data, data, error["loc"]
    for i, part in enumerate(loc):
        named = isinstance(value, Mapping) and part in value or isinstance(value, list) and isinstance(part, int)
        if named or (i == len(loc) - 1 and error["type"] == "missing"):
            keys.append(str(part))
            section, value = value, value[part] if named else None
    return ".".join(keys), section


def one_line(exc: ValidationError, data: Mapping[str, Any]) -> str:
    """The first error of ``exc`` as ``<key>=<value>: must be <what>``, in pydantic's words."""
    errors = exc.errors(include_url=False)
    key, section = _key(errors[0], data)
    same = [e for e in errors if _key(e, data)[0] == key]  # one per member of a union
    error = next((e for e in same if e["type"] == "value_error"), same[0])
    kind, ctx = error["type"], error.get("ctx", {})
    tag = key + "." + str(ctx.get("discriminator")).strip("'")  # (of evaluate.py's task: task.name)
    if kind == "value_error":  # a validator's own line
        return str(ctx["error"]).replace(FIELD, key)
    if kind == "union_tag_invalid":
        return f"{tag}={ctx['tag']}: must be one of {ctx['expected_tags']}"
    if kind in ("missing", "union_tag_not_found"):
        key = tag if ctx else key
        return f"{key}: missing; conf/ sets it (was it removed with ~{key}?)"
    if kind == "extra_forbidden":
        unknown = {_key(e, data)[0] for e in errors if e["type"] == kind}
        parent = key.rpartition(".")[0]
        known = [k for k in section if ".".join(filter(None, [parent, k])) not in unknown]
        return f"{key}: not a key of {parent or 'the config'}; its keys are {', '.join(known)}"
    what = " or ".join(dict.fromkeys(re.sub(r"^\w+ should ", "", e["msg"]) for e in same))
    shown = str(error["input"])
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    return f"{key}={shown}: must {what.replace(' or be ', ' or ')}"


def resolved(cfg: DictConfig) -> dict[str, Any]:
    """The config as plain values, every interpolation resolved (one that cannot be is a one-line error)."""
    try:
        return OmegaConf.to_container(cfg, resolve=True)
    except OmegaConfBaseException as exc:
        key = getattr(exc, "full_key", None) or "config"
        raise UserError(f"{key}: cannot be resolved ({str(exc).splitlines()[0]})") from None


def check_config(cfg: DictConfig | Mapping[str, Any], script: str) -> BaseModel:
    """Validate ``cfg`` against ``script``'s model (train, stylize, evaluate or study), input files
    included; return the model. The first bad key raises :class:`UserError` with one line."""
    data = resolved(cfg) if isinstance(cfg, DictConfig) else dict(cfg)
    try:
        return SCHEMAS[script].model_validate(data)
    except ValidationError as exc:
        raise UserError(one_line(exc, data)) from None
