"""evaluate.py sub-tasks: select_folds, classify, deception, dashboard, test."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pandas as pd
from omegaconf import DictConfig

from vangogh_lightning.core.atomic import atomic_link, atomic_write_text
from vangogh_lightning.core.backbone_registry import backbone_names
from vangogh_lightning.core.errors import UserError
from vangogh_lightning.core.images import expand_images, refuse_overwrite
from vangogh_lightning.core.locks import LOCK_FILE, exclusive
from vangogh_lightning.core.markdown import to_markdown
from vangogh_lightning.data.record import refuse_mixed_data
from vangogh_lightning.evaluation.evidence import EVIDENCE_INDEX, evidence_layer, explain_files, save_evidence
from vangogh_lightning.evaluation.folds.runs import data_records, find_fold_runs
from vangogh_lightning.evaluation.folds.selection import (
    best_epochs,
    chance_note,
    choose_model,
    select_fold,
    summarise,
    write_selected,
)
from vangogh_lightning.evaluation.folds.wandb_views import build_dashboard, mark_selected_run
from vangogh_lightning.evaluation.plots import draw_fold_curves, plot_roc_pr, save_figure
from vangogh_lightning.evaluation.scoring import classify_table, roc_pr, score_test_split
from vangogh_lightning.evaluation.table_one.build import build_table_one, output_files, write_table_one
from vangogh_lightning.evaluation.table_one.judge_runs import source_checkpoint
from vangogh_lightning.evaluation.table_one.stats import deception_table
from vangogh_lightning.models.checkpoints import load_classifier

log = logging.getLogger(__name__)


def select_folds(cfg: DictConfig) -> dict[str, Path]:
    """Table of each fold's best epoch, mean ± std, the selected fold per backbone, curves, weights-only ckpt."""
    task = cfg.task
    if task.runs is None:
        raise UserError("task.runs is not set; pass task.runs=outputs/train/multiruns/<date> (or a list)")
    runs, warnings = find_fold_runs(task.runs)
    for run in (r for r in runs if r.debug):
        if not task.allow_debug:
            raise UserError(f"task.runs: {run.fold_dir} is a debug run ({', '.join(run.debug)}: it saw part of its "
                            "data), so its scores are not results; pass task.allow_debug=true to select from it anyway")
        warnings.append(f"{run.fold_dir}: a debug run ({', '.join(run.debug)}), selected from as task.allow_debug=true "
                        "asks")
    refuse_mixed_data(data_records(runs), "task.runs")
    num_folds = {str(r.fold_dir): r.num_folds for r in runs}
    out_dir, selected_dir = Path(cfg.out_dir), Path(task.selected_dir)
    report = [f"# Fold selection (rule: {task.rule})\n"]
    picks: dict[str, pd.Series] = {}
    chosen_rows = []
    for backbone, rows in best_epochs(runs).groupby("backbone"):
        rows, notes = choose_model(rows.reset_index(drop=True), backbone, num_folds)
        warnings += notes
        pick = picks[backbone] = rows.loc[select_fold(rows, task.rule)]
        chosen_rows.append(rows)
        report += [f"## {backbone}\n", to_markdown(rows.drop(columns=["backbone", "run", "checkpoint", "model"])),
                   f"\nselected: fold {pick['fold']} (epoch {pick['best_epoch']}, AUROC {pick['auroc']:.4f}, "
                   f"out-of-fold 95 % CI {pick['auroc_low']:.4f}–{pick['auroc_high']:.4f}) from {pick['run']}\n"]
        flag = chance_note(next(r for r in runs if str(r.fold_dir) == pick["run"]), backbone)
        if flag:
            report.append(f"**Warning: {flag}.**\n")
            warnings.append(flag)
        save_figure(draw_fold_curves([r for r in runs if str(r.fold_dir) in set(rows["run"])], backbone),
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
        target, record = selected_dir / f"{backbone}.ckpt", selected_dir / f"{backbone}.json"
        chosen[backbone] = target
        origin = {"source": str(source.resolve()), "fold": int(pick["fold"]), "rule": task.rule,
                  "size": source.stat().st_size, "mtime": source.stat().st_mtime}
        if target.exists() and not cfg.overwrite:
            if record.is_file() and json.loads(record.read_text()) == origin:
                print(f"{backbone}: fold {pick['fold']} is already selected at {target} (unchanged)")
                continue
            raise UserError(f"{target}: already exists (from another selection); pass overwrite=true to replace "
                            "it or choose another task.selected_dir")
        how = write_selected(source, target, bool(task.link))
        atomic_write_text(json.dumps(origin, indent=2), record)
        if task.wandb is not False and mark_selected_run(Path(pick["run"]), task.rule, task.wandb is True or "auto"):
            print(f"{backbone}: W&B run of fold {pick['fold']} tagged 'selected'")
        print(f"{backbone}: selected fold {pick['fold']} -> {target} ({how}); curves in "
              f"{out_dir / f'curves_{backbone}.png'}")
    if task.get("latest"):
        point_latest_at(selected_dir, Path(task.latest))
    return chosen


def point_latest_at(selected_dir: Path, latest: Path) -> None:
    """Make ``latest`` (``task.latest``) a symlink to this selection's folder (earlier ones keep theirs)."""
    if latest.absolute() == selected_dir.absolute():
        return
    if latest.exists() and not latest.is_symlink():
        print(f"note: {latest} is a folder of its own (an earlier version's selection), left as it is; "
              f"this selection is in {selected_dir} (task.latest=null stops this note)")
        return
    atomic_link(selected_dir, latest, symbolic=True)
    print(f"{latest} -> {selected_dir} (the newest selection)")


def classify(cfg: DictConfig) -> pd.DataFrame:
    """Probability of 'Van Gogh' for each image; printed and saved as CSV."""
    task = cfg.task
    if task.checkpoint is None or task.images is None:
        raise UserError("task.checkpoint and task.images must be set (a .ckpt and files/folders/globs)")
    out, evidence_dir = Path(cfg.out_dir) / "predictions.csv", Path(cfg.out_dir) / "evidence"
    refuse_overwrite([out, *([evidence_dir / EVIDENCE_INDEX] if task.evidence else [])], cfg.overwrite)
    model, size = load_classifier(task.checkpoint, key="task.checkpoint")
    source = source_checkpoint(Path(task.checkpoint).expanduser())
    fold = source.parent.parent.name.replace("_", " ") + ", " if source.parent.name == "checkpoints" else ""
    print(f"classifier: {model.hparams.backbone} ({fold}{source})")
    if task.evidence:
        evidence_layer(model, task.evidence_layer)  # a bad layer name before any work
    paths = expand_images(task.images, what="task.images")
    threshold = task.threshold if task.threshold is not None else model.hparams.threshold
    table = classify_table(model, paths, size, threshold, task.batch_size, cfg.device)
    atomic_write_text(table.to_csv(index=False), out)
    print(table.to_string(index=False))
    print(f"wrote {out}")
    if task.evidence:
        written = save_evidence(explain_files(model, size, paths, task.evidence_layer, cfg.device, task.batch_size),
                                evidence_dir)
        print(f"wrote {written} evidence map(s) to {evidence_dir}")
    return table


def deception(cfg: DictConfig) -> pd.DataFrame:
    """Table 1 and its files (see :mod:`table_one.build`); returns conditions x image sets, shares in [0, 1]
    (and the image count)."""
    task = cfg.task
    missing = [f"task.classifiers.{j}" for j in backbone_names() if task.classifiers.get(j) is None]
    missing += [f"task.stylized.{b}" for b, v in task.stylized.items() if v is None]
    if missing:
        raise UserError(f"{', '.join(missing)} not set; see docs/evaluate.md")
    outputs = output_files(Path(cfg.out_dir), task)
    refuse_overwrite(outputs.values(), cfg.overwrite)
    result = build_table_one(task, cfg.device)
    print(write_table_one(result, task, outputs))
    print(f"wrote {', '.join(str(p) for p in outputs.values() if p.exists())}")
    return deception_table(result.every, result.judges)


def dashboard(cfg: DictConfig) -> str:
    """The fold-selection workspace in W&B (or its spec, offline)."""
    task = cfg.task
    return build_dashboard(task.project, task.entity, task.title, task.offline, Path(cfg.out_dir), task.runs)


def held_out_test(cfg: DictConfig) -> dict:
    """A classifier on its run's held-out test split: metrics (JSON), predictions (CSV), ROC and PR curves (PNG)."""
    task = cfg.task
    if task.checkpoint is None:
        raise UserError("task.checkpoint is not set; pass a .ckpt of train.py whose run set data.test_fraction")
    out = Path(cfg.out_dir)
    files = {"metrics": out / "test_metrics.json", "predictions": out / "test_predictions.csv",
             "curves": out / "test_curves.png"}
    refuse_overwrite(files.values(), cfg.overwrite)
    summary, predictions = score_test_split(task.checkpoint, task.batch_size, task.threshold, cfg.device)
    atomic_write_text(predictions.to_csv(index=False), files["predictions"])
    curves = {f"test split ({summary['images']} images)": roc_pr(predictions["p_van_gogh"], predictions["label"])}
    plot_roc_pr(curves, f"{summary['backbone']} on its held-out test split", files["curves"])
    atomic_write_text(json.dumps(summary, indent=2), files["metrics"])
    print(to_markdown(pd.DataFrame([{k: v for k, v in summary.items() if k != "checkpoint"}])))
    print(f"wrote {', '.join(str(p) for p in files.values())}")
    return summary


TASKS = {"select_folds": select_folds, "classify": classify, "deception": deception, "dashboard": dashboard,
         "test": held_out_test}


def evaluate(cfg: DictConfig):
    """Dispatch to the configured sub-task (``task.name``), one writer at a time per ``out_dir``."""
    with exclusive(cfg.out_dir, LOCK_FILE, "evaluate.py"):
        return TASKS[cfg.task.name](cfg)
