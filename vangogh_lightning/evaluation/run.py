"""evaluate.py sub-tasks: select_folds, classify, deception."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pandas as pd
import torch
from omegaconf import DictConfig

from vangogh_lightning.atomic import atomic_write_text
from vangogh_lightning.config_checks import EVALUATE_RULES, check_config, check_output_dir
from vangogh_lightning.errors import UserError
from vangogh_lightning.evaluation.checkpoints import load_classifier, write_selected
from vangogh_lightning.evaluation.classify import classify_table
from vangogh_lightning.evaluation.deception import (
    JUDGES,
    deception_table,
    format_percent,
    stylized_images,
    verdict_grid,
)
from vangogh_lightning.evaluation.plots import plot_fold_curves
from vangogh_lightning.evaluation.runs import find_fold_runs
from vangogh_lightning.evaluation.selection import best_epochs, choose_model, missing_folds, select_fold, summarise
from vangogh_lightning.evaluation.tables import to_markdown
from vangogh_lightning.evaluation.wandb_views import build_dashboard, mark_selected_run
from vangogh_lightning.images import expand_images, refuse_overwrite, set_max_pixels

log = logging.getLogger(__name__)


def _as_list(value) -> list:
    return [value] if isinstance(value, (str, Path)) else list(value)


def _device(name: str) -> str:
    return ("cuda" if torch.cuda.is_available() else "cpu") if name == "auto" else name


def select_folds(cfg: DictConfig) -> dict[str, Path]:
    """Table of each fold's best epoch, mean ± std, the selected fold per backbone, curves, weights-only ckpt."""
    t = cfg.task
    if t.runs is None:
        raise UserError("task.runs is not set; pass task.runs=outputs/train/multiruns/<date> (or a list)")
    runs, warnings = find_fold_runs(_as_list(t.runs))
    table = best_epochs(runs)
    table["model"] = [next(r.model for r in runs if str(r.fold_dir) == run) for run in table["run"]]
    num_folds = {str(r.fold_dir): r.num_folds for r in runs}
    out_dir = Path(cfg.out_dir)
    selected_dir = Path(t.selected_dir)
    report = [f"# Fold selection (rule: {t.rule})\n"]
    picks: dict[str, pd.Series] = {}
    chosen_rows = []
    for backbone, rows in table.groupby("backbone"):
        rows, notes = choose_model(rows.reset_index(drop=True), backbone)
        rows = rows.reset_index(drop=True)
        absent = missing_folds(rows, num_folds.get(rows["run"].iloc[0]))
        if absent:
            notes.append(f"{backbone}: fold(s) {', '.join(map(str, absent))} of "
                         f"{num_folds[rows['run'].iloc[0]]} missing; the mean below is over {len(rows)} fold(s)")
        warnings += notes
        pick = rows.loc[select_fold(rows, t.rule)]
        picks[backbone] = pick
        chosen_rows.append(rows)
        report += [f"## {backbone}\n", to_markdown(rows.drop(columns=["backbone", "run", "checkpoint", "model"])),
                   f"\nselected: fold {pick['fold']} (epoch {pick['best_epoch']}, "
                   f"AUROC {pick['auroc']:.4f}) from {pick['run']}\n"]
        plot_fold_curves([r for r in runs if str(r.fold_dir) in set(rows["run"])], backbone,
                         out_dir / f"curves_{backbone}.png")
    chosen_table = pd.concat(chosen_rows, ignore_index=True)
    report += ["## mean ± std across folds\n", to_markdown(summarise(chosen_table), index=True)]
    if warnings:
        report += ["## warnings\n", *[f"- {w}" for w in warnings]]
    for w in warnings:
        log.warning(w)
    atomic_write_text("\n".join(report), out_dir / "fold_selection.md")
    chosen_table.to_csv(out_dir / "fold_selection.csv", index=False)
    print("\n".join(report))  # before any refusal below: the table is always shown

    chosen: dict[str, Path] = {}
    for backbone, pick in picks.items():
        source = Path(pick["checkpoint"]) if pick["checkpoint"] else None
        if source is None or not source.is_file():
            raise UserError(f"{pick['run']}: its best checkpoint {pick['checkpoint'] or '(none kept)'} is missing; "
                            "search trials keep none by default (checkpoints.keep_best): retrain that setting "
                            "with train.py")
        target = selected_dir / f"{backbone}.ckpt"
        record = selected_dir / f"{backbone}.json"
        origin = {"source": str(source.resolve()), "fold": int(pick["fold"]), "rule": t.rule,
                  "size": source.stat().st_size, "mtime": source.stat().st_mtime}
        if target.exists() and not cfg.overwrite:
            previous = json.loads(record.read_text()) if record.is_file() else None
            if previous == origin:
                print(f"{backbone}: fold {pick['fold']} is already selected at {target} (unchanged)")
                chosen[backbone] = target
                continue
            raise UserError(f"{target}: already exists (from another selection); pass overwrite=true to replace "
                            "it or choose another task.selected_dir")
        how = write_selected(source, target, bool(t.link))
        atomic_write_text(json.dumps(origin, indent=2), record)
        chosen[backbone] = target
        if t.wandb is not False and mark_selected_run(Path(pick["run"]), t.rule, offline=t.wandb is True or "auto"):
            print(f"{backbone}: W&B run of fold {pick['fold']} tagged 'selected'")
        print(f"{backbone}: selected fold {pick['fold']} -> {target} ({how}); curves in "
              f"{out_dir / f'curves_{backbone}.png'}")
    return chosen


def classify(cfg: DictConfig) -> pd.DataFrame:
    """Probability of 'Van Gogh' for each image; printed and saved as CSV."""
    t = cfg.task
    if t.checkpoint is None or t.images is None:
        raise UserError("task.checkpoint and task.images must be set (a .ckpt and files/folders/globs)")
    model, size = load_classifier(t.checkpoint, key="task.checkpoint")
    paths = expand_images(t.images, what="task.images")
    threshold = t.threshold if t.threshold is not None else model.hparams.threshold
    table = classify_table(model, paths, size, threshold, t.batch_size, _device(cfg.device))
    out = Path(cfg.out_dir) / "predictions.csv"
    refuse_overwrite([out], cfg.overwrite)
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out, index=False)
    print(table.to_string(index=False))
    print(f"wrote {out}")
    return table


def deception(cfg: DictConfig) -> pd.DataFrame:
    """Table 1: share judged Van Gogh by each classifier and by both, per transfer backbone."""
    t = cfg.task
    missing = [f"task.classifiers.{j}" for j in JUDGES if t.classifiers.get(j) is None]
    missing += [f"task.stylized.{b}" for b, v in t.stylized.items() if v is None]
    if missing:
        raise UserError(f"{', '.join(missing)} not set; see README 'Evaluate'")
    judges = {j: load_classifier(t.classifiers[j], key=f"task.classifiers.{j}", expect_backbone=j)
              for j in JUDGES}
    frames = []
    for transfer, spec in t.stylized.items():
        paths = stylized_images(spec, f"task.stylized.{transfer}")
        frame = pd.DataFrame({"transfer": transfer, "image": [str(p) for p in paths]})
        for judge, (model, size) in judges.items():
            scored = classify_table(model, paths, size, t.threshold, t.batch_size, _device(cfg.device))
            frame[f"p_{judge}"] = scored["p_van_gogh"].to_numpy()
            frame[judge] = scored["van_gogh"].to_numpy()
        frames.append(frame)
    verdicts = pd.concat(frames, ignore_index=True)
    table = deception_table(verdicts)
    out_dir = Path(cfg.out_dir)
    outputs = [out_dir / n for n in ("deception.md", "deception.csv", "verdicts.csv", "verdicts.png")]
    refuse_overwrite(outputs, cfg.overwrite)
    shown = format_percent(table)
    markdown = f"# Deception rate (threshold {t.threshold})\n\n" + to_markdown(shown, index=True)
    atomic_write_text(markdown, outputs[0])
    table.to_csv(outputs[1], index_label="condition")
    verdicts.to_csv(outputs[2], index=False)
    verdict_grid(verdicts, outputs[3])
    print(markdown)
    print(f"wrote {', '.join(str(p) for p in outputs)}")
    return table


def dashboard(cfg: DictConfig) -> str:
    """The fold-selection workspace in W&B (or its spec, offline)."""
    t = cfg.task
    return build_dashboard(t.project, t.entity, t.title, t.offline, Path(cfg.out_dir))


TASKS = {"select_folds": select_folds, "classify": classify, "deception": deception, "dashboard": dashboard}


def evaluate(cfg: DictConfig):
    """Check every key before any work, then dispatch to the configured sub-task."""
    check_config(cfg, EVALUATE_RULES)
    set_max_pixels(cfg.max_image_pixels)
    check_output_dir(cfg.out_dir, "out_dir")
    return TASKS[cfg.task.name](cfg)
