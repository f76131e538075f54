"""Type and range of every config key a user can set, checked in one place per script before any work.

Each script's task function starts with ``check_config(cfg, <SCRIPT>_RULES)``: a bad value is one
line naming the key (``error: size=abc: must be an integer >= 16``), never a traceback later on.
Rules for keys that a config does not hold (a group left out, another evaluate task) are skipped.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from vangogh_lightning.data.folds import check_fold
from vangogh_lightning.errors import UserError

# A check returns None when the value is fine, else what the value must be ("an integer >= 1").
Check = Callable[[Any], "str | None"]

# Lightning's accepted `precision` values (lightning.fabric.plugins.precision.precision._PRECISION_INPUT).
PRECISION_NAMES = ("32-true", "16-mixed", "bf16-mixed", "16-true", "bf16-true", "64-true", "transformer-engine",
                   "transformer-engine-float16", "64", "32", "16", "bf16")
PRECISIONS = (*PRECISION_NAMES, 64, 32, 16)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _bounds(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    parts = []
    if low is not None:
        parts.append(f"{'>' if low_open else '>='} {low:g}")
    if high is not None:
        parts.append(f"{'<' if high_open else '<='} {high:g}")
    return " and ".join(parts)


def integer(low: int | None = None, high: int | None = None) -> Check:
    """An int (not a bool) within [low, high]."""
    want = " ".join(filter(None, ["an integer", _bounds(low, high, False, False)]))

    def check(value: Any) -> str | None:
        ok = _is_int(value) and (low is None or value >= low) and (high is None or value <= high)
        return None if ok else want
    return check


def number(low: float | None = None, high: float | None = None, low_open: bool = False,
           high_open: bool = False) -> Check:
    """An int or float within the given (open or closed) bounds."""
    want = " ".join(filter(None, ["a number", _bounds(low, high, low_open, high_open)]))

    def check(value: Any) -> str | None:
        if not _is_number(value) or value != value:  # NaN is never in range
            return want
        if low is not None and (value <= low if low_open else value < low):
            return want
        if high is not None and (value >= high if high_open else value > high):
            return want
        return None
    return check


def boolean() -> Check:
    """true or false."""
    return lambda value: None if isinstance(value, bool) else "true or false"


def choice(*options: Any) -> Check:
    """One of ``options`` (compared by value and type, so 1 is not True)."""
    names = dict.fromkeys(str(o).lower() if isinstance(o, bool) else str(o) for o in options)
    shown = ", ".join(names)

    def check(value: Any) -> str | None:
        ok = any(value == o and type(value) is type(o) for o in options)
        return None if ok else f"one of {shown}"
    return check


def text() -> Check:
    """A non-empty string."""
    return lambda value: None if isinstance(value, str) and value.strip() else "a non-empty string"


def optional(inner: Check) -> Check:
    """null, or what ``inner`` accepts."""
    def check(value: Any) -> str | None:
        if value is None:
            return None
        problem = inner(value)
        return None if problem is None else f"null or {problem}"
    return check


def either(*checks: Check) -> Check:
    """Accepted by any of ``checks``."""
    def check(value: Any) -> str | None:
        problems = [c(value) for c in checks]
        return None if any(p is None for p in problems) else " or ".join(problems)
    return check


def list_of(inner: Check, min_len: int = 0) -> Check:
    """A list whose items ``inner`` accepts."""
    def check(value: Any) -> str | None:
        items = list(value) if isinstance(value, (list, tuple, ListConfig)) else None
        if items is None or len(items) < min_len or any(inner(v) is not None for v in items):
            least = f" of at least {min_len} item(s)" if min_len else ""
            return f"a list{least}, each {inner(object()) or 'a value'}"
        return None
    return check


def device() -> Check:
    """auto, cpu, cuda, cuda:<n>, mps."""
    def check(value: Any) -> str | None:
        ok = isinstance(value, str) and (value in ("auto", "cpu", "cuda", "mps")
                                         or (value.startswith("cuda:") and value[5:].isdigit()))
        return None if ok else "auto, cpu, cuda, cuda:<n> or mps"
    return check


_ABSENT = object()


def _get(cfg: DictConfig, key: str) -> tuple[bool, Any]:
    """(present, value) of a dotted key; containers come back as plain lists and dicts."""
    value = OmegaConf.select(cfg, key, default=_ABSENT, throw_on_resolution_failure=True)
    if value is _ABSENT:
        return False, None
    if isinstance(value, (DictConfig, ListConfig)):
        value = OmegaConf.to_container(value, resolve=True)
    return True, value


def _show(value: Any) -> str:
    shown = str(value)
    return shown if len(shown) <= 60 else shown[:57] + "..."


def check_config(cfg: DictConfig, rules: Mapping[str, Check]) -> None:
    """Raise :class:`UserError` for the first key whose value breaks its rule."""
    for key, rule in rules.items():
        try:
            present, value = _get(cfg, key)
        except Exception as exc:  # noqa: BLE001 - an interpolation that cannot resolve
            raise UserError(f"{key}: cannot be resolved ({str(exc).splitlines()[0]})") from None
        if not present:
            continue
        problem = rule(value)
        if problem is not None:
            raise UserError(f"{key}={_show(value)}: must be {problem}")


def check_output_dir(path: str | Path, key: str) -> Path:
    """Create ``path`` if needed and prove it is writable (a real write: root ignores mode bits)."""
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise UserError(f"{key}={path}: is a file, not a folder; choose a folder for the outputs")
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=path, prefix=".write-test-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise UserError(f"{key}={path}: cannot write there ({exc.strerror or exc}); choose a writable folder") from None
    return path


# ----- the rules of each script -----------------------------------------------------------

COMMON_RULES: dict[str, Check] = {
    "max_image_pixels": integer(low=1),
}

TRAIN_RULES: dict[str, Check] = {
    **COMMON_RULES,
    "seed": integer(),
    "fold": optional(integer(low=0)),
    "ckpt_path": optional(text()),
    "checkpoints.keep_best": choice(True, False, "best_trial"),
    "checkpoints.keep_last": boolean(),
    "checkpoints.resume_point": boolean(),
    "search.seed": optional(integer()),
    "search.trial": optional(integer(low=0)),
    "monitor.metric": text(),
    "monitor.mode": choice("min", "max"),
    "data.source": choice("wikiart", "folder", "synthetic"),
    "data.styles": list_of(text(), min_len=1),
    "data.positive_artist": text(),
    "data.on_missing": choice("error", "skip"),
    "data.drop_duplicates": boolean(),
    "data.num_folds": integer(low=2),
    "data.split_seed": integer(),
    "data.split": choice("stratified", "kfold"),
    "data.image_size": integer(low=32, high=4096),
    "data.batch_size": integer(low=1),
    "data.num_workers": either(choice("auto"), integer(low=0)),
    "data.pin_memory": optional(boolean()),
    "data.persistent_workers": boolean(),
    "data.max_decode_side": optional(integer(low=32)),
    "data.validation_cache": either(boolean(), text()),
    "data.synthetic_count": integer(low=4),
    "data.synthetic_positive_share": number(0, 1, low_open=True, high_open=True),
    "data.synthetic_render_size": integer(low=16, high=4096),
    "model.backbone": choice("alexnet", "vgg19"),
    "model.pretrained": boolean(),
    "model.weights_path": optional(text()),
    "model.trainable_feature_modules": integer(low=0),
    "model.trainable_classifier_layers": optional(integer(low=1)),
    "model.lr": number(0, low_open=True),
    "model.weight_decay": number(0),
    "model.pos_weight": optional(either(choice("auto"), number(0, low_open=True))),
    "model.threshold": number(0, 1, low_open=True, high_open=True),
    "model.channels_last": boolean(),
    "model.compile": boolean(),
    "trainer.max_epochs": integer(low=-1),
    "trainer.min_epochs": integer(low=0),
    "trainer.precision": choice(*PRECISIONS),
    "trainer.log_every_n_steps": integer(low=1),
    "trainer.check_val_every_n_epoch": integer(low=1),
    "trainer.num_sanity_val_steps": integer(low=-1),
    "trainer.deterministic": either(boolean(), choice("warn")),
    "trainer.enable_progress_bar": boolean(),
    "trainer.enable_model_summary": boolean(),
    "callbacks.early_stopping.patience": integer(low=0),
    "callbacks.early_stopping.min_delta": number(0),
    "callbacks.early_stopping.mode": choice("min", "max"),
    "callbacks.model_checkpoint.mode": choice("min", "max"),
}

STYLIZE_RULES: dict[str, Check] = {
    **COMMON_RULES,
    "overwrite": boolean(),
    "content": either(text(), list_of(text(), min_len=1)),
    "style": optional(either(text(), list_of(text(), min_len=1))),
    "style_weights": optional(list_of(number(0), min_len=1)),
    "size": integer(low=16, high=16384),
    "multiscale": choice("auto", True, False),
    "min_scale": integer(low=16),
    "steps": integer(low=1),
    "coarse_steps": optional(integer(low=1)),
    "optimizer": choice("lbfgs", "adam"),
    "lr": optional(number(0, low_open=True)),
    "lbfgs_history": integer(low=1),
    "init": choice("content", "style", "noise"),
    "seed": integer(),
    "content_weight": number(0),
    "style_weight": number(0),
    "tv_weight": number(0),
    "loss_normalisation": choice("relative", "report"),
    "square": boolean(),
    "preserve_colors": boolean(),
    "batch_size": either(choice("auto"), integer(low=1)),
    "save_every": integer(low=0),
    "device": device(),
    "precision": choice(*PRECISIONS),
    "progress_bar": boolean(),
    "out_dir": text(),
    "backbone.name": choice("alexnet", "vgg19"),
    "backbone.pretrained": boolean(),
    "backbone.weights_path": optional(text()),
    "backbone.pooling": choice("max", "avg"),
    "backbone.content_layers": either(text(), list_of(text(), min_len=1)),
    "backbone.style_layers": either(text(), list_of(text(), min_len=1)),
    "backbone.content_layer_weights": optional(list_of(number(0), min_len=1)),
    "backbone.style_layer_weights": optional(list_of(number(0), min_len=1)),
}

EVALUATE_RULES: dict[str, Check] = {
    **COMMON_RULES,
    "overwrite": boolean(),
    "device": device(),
    "out_dir": text(),
    "task.name": choice("select_folds", "classify", "deception", "dashboard"),
    "task.runs": optional(either(text(), list_of(text(), min_len=1))),
    "task.rule": choice("auroc", "combined"),
    "task.selected_dir": text(),
    "task.link": boolean(),
    "task.checkpoint": optional(text()),
    "task.images": optional(either(text(), list_of(text(), min_len=1))),
    "task.threshold": optional(number(0, 1, low_open=True, high_open=True)),
    "task.batch_size": integer(low=1, high=4096),
    "task.wandb": choice("auto", True, False),
    "task.offline": choice("auto", True, False),
    "task.project": text(),
    "task.entity": optional(text()),
    "task.title": text(),
}

STUDY_RULES: dict[str, Check] = {
    **COMMON_RULES,
    "out_dir": text(),
    "search": boolean(),
    "search_overrides": list_of(text()),
    "backbones": list_of(choice("alexnet", "vgg19"), min_len=1),
    "train_overrides": list_of(text()),
    "content": either(text(), list_of(text(), min_len=1)),
    "styles": list_of(text(), min_len=1),
    "stylize_overrides": list_of(text()),
    "rule": choice("auroc", "combined"),
    "threshold": number(0, 1, low_open=True, high_open=True),
}

RULES: dict[str, dict[str, Check]] = {"train": TRAIN_RULES, "stylize": STYLIZE_RULES, "evaluate": EVALUATE_RULES,
                                      "study": STUDY_RULES}


def check_train_combinations(cfg: DictConfig) -> None:
    """Train keys that are only wrong together (each one alone passed its rule)."""
    if cfg.get("fold") is not None:
        check_fold(cfg.fold, int(cfg.data.num_folds))
    elif cfg.get("ckpt_path") not in (None, "last"):
        raise UserError(f"ckpt_path={cfg.ckpt_path}: a checkpoint file resumes one fold; add fold=<k> "
                        "(or use ckpt_path=last to resume every fold of the run)")
    if cfg.checkpoints.keep_last and not cfg.checkpoints.resume_point:
        raise UserError("checkpoints.keep_last=true: there is no last.ckpt to keep with "
                        "checkpoints.resume_point=false; set checkpoints.resume_point=true")


def check_train_files(cfg: DictConfig) -> None:
    if cfg.data.source == "wikiart":
        from vangogh_lightning.data.index import check_csv_path

        check_csv_path(cfg.data.csv_path)
    if cfg.get("ckpt_path") not in (None, "last"):
        from vangogh_lightning.torch_files import require_file

        require_file(cfg.ckpt_path, "ckpt_path", "checkpoint")


def check_stylize_files(cfg: DictConfig) -> None:
    from vangogh_lightning.images import expand_images

    for key in ("content", "style"):
        if cfg.get(key) is not None:
            expand_images(cfg[key], what=key)


def check_evaluate_files(cfg: DictConfig) -> None:
    from vangogh_lightning.images import expand_images
    from vangogh_lightning.torch_files import require_file

    task = cfg.task
    if task.name == "classify":
        if task.get("checkpoint") is not None:
            require_file(task.checkpoint, "task.checkpoint", "checkpoint")
        if task.get("images") is not None:
            expand_images(task.images, what="task.images")
    elif task.name == "deception":
        for backbone, path in (task.get("classifiers") or {}).items():
            if path is not None:
                require_file(path, f"task.classifiers.{backbone}", "checkpoint")


COMBINATIONS: dict[str, Callable[[DictConfig], None]] = {"train": check_train_combinations}
# Missing input files, reported before torch and Lightning are imported (~1 s instead of ~9 s); what
# the files hold is checked where they are read.
INPUT_FILES: dict[str, Callable[[DictConfig], None]] = {
    "train": check_train_files, "stylize": check_stylize_files, "evaluate": check_evaluate_files,
}


def check_script_config(cfg: DictConfig, script: str) -> None:
    """Every rule of ``script`` (train, stylize, evaluate or study), the keys checked together, and
    that the input files it names exist."""
    check_config(cfg, RULES[script])
    for checks in (COMBINATIONS, INPUT_FILES):
        if script in checks:
            checks[script](cfg)
