"""evaluate.py sub-tasks: select_folds, classify, deception."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
from omegaconf import DictConfig

from vangogh_lightning.errors import UserError
from vangogh_lightning.evaluation.checkpoints import load_classifier
from vangogh_lightning.evaluation.classify import classify_table
from vangogh_lightning.evaluation.deception import (
    JUDGES,
    deception_table,
    format_percent,
    verdict_grid,
)
from vangogh_lightning.evaluation.plots import plot_fold_curves
from vangogh_lightning.evaluation.runs import find_fold_runs
from vangogh_lightning.evaluation.selection import best_epochs, select_fold, summarise
from vangogh_lightning.evaluation.tables import to_markdown
from vangogh_lightning.images import atomic_write_text, expand_images, refuse_overwrite


def _as_list(value) -> list:
    return [value] if isinstance(value, (str, Path)) else list(value)


def _device(name: str) -> str:
    import torch

    return ("cuda" if torch.cuda.is_available() else "cpu") if name == "auto" else name


def select_folds(cfg: DictConfig) -> dict[str, Path]:
    """Table of each fold's best epoch, mean ± std, the selected fold per backbone, curves, ckpt copy."""
    t = cfg.task
    if t.runs is None:
        raise UserError("task.runs is not set; pass task.runs=outputs/train/multiruns/<date> (or a list)")
    runs = find_fold_runs(_as_list(t.runs))
    table = best_epochs(runs)
    out_dir = Path(cfg.out_dir)
    selected_dir = Path(t.selected_dir)
    chosen: dict[str, Path] = {}
    report = [f"# Fold selection (rule: {t.rule})\n"]
    stable_paths = [selected_dir / f"{b}.ckpt" for b in table["backbone"].unique()]
    refuse_overwrite(stable_paths, cfg.overwrite)
    for backbone, rows in table.groupby("backbone"):
        rows = rows.reset_index(drop=True)
        pick = rows.loc[select_fold(rows, t.rule)]
        report += [f"## {backbone}\n", to_markdown(rows.drop(columns=["backbone", "run", "checkpoint"])),
                   f"\nselected: fold {pick['fold']} (epoch {pick['best_epoch']}, "
                   f"AUROC {pick['auroc']:.4f}) from {pick['run']}\n"]
        plot = plot_fold_curves([r for r in runs if r.backbone == backbone], backbone,
                                out_dir / f"curves_{backbone}.png")
        if not pick["checkpoint"] or not Path(pick["checkpoint"]).is_file():
            raise UserError(f"{pick['run']}: its best checkpoint {pick['checkpoint']!r} is missing")
        target = selected_dir / f"{backbone}.ckpt"
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp")
        if t.link:
            tmp.unlink(missing_ok=True)
            tmp.symlink_to(Path(pick["checkpoint"]).resolve())
        else:
            shutil.copyfile(pick["checkpoint"], tmp)
        tmp.replace(target)
        chosen[backbone] = target
        print(f"{backbone}: selected fold {pick['fold']} -> {target}; curves in {plot}")
    summary = summarise(table)
    report += ["## mean ± std across folds\n", to_markdown(summary, index=True)]
    atomic_write_text("\n".join(report), out_dir / "fold_selection.md")
    table.to_csv(out_dir / "fold_selection.csv", index=False)
    print("\n".join(report))
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
        paths = expand_images(spec, what=f"task.stylized.{transfer}")
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


TASKS = {"select_folds": select_folds, "classify": classify, "deception": deception}


def evaluate(cfg: DictConfig):
    """Dispatch to the configured sub-task."""
    name = cfg.task.name
    if name not in TASKS:
        raise UserError(f"task.name={name}: choose one of {', '.join(TASKS)}")
    return TASKS[name](cfg)
