"""Table 1 as a reviewer would accept it: every image set judged by both classifiers (transfers and
controls), the shares with intervals, paired tests, the spread across fold judges, the threshold curve."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from vangogh_lightning.core.atomic import atomic_write_text
from vangogh_lightning.evaluation.checkpoints import load_classifier
from vangogh_lightning.evaluation.classify import classify_table
from vangogh_lightning.evaluation.comparisons import fold_rates, fold_spread, judge_tests, transfer_tests
from vangogh_lightning.evaluation.controls import (
    PHOTOS,
    STYLES,
    oof_control,
    photo_control,
    sources,
    style_control,
    training_files,
)
from vangogh_lightning.evaluation.deception import JUDGES, deception_table, rate_rows, stylized_images, verdict_grid
from vangogh_lightning.evaluation.deception_report import deception_markdown
from vangogh_lightning.evaluation.judge_runs import judge_run, judge_with_every_fold, out_of_fold_frame
from vangogh_lightning.evaluation.plots import plot_threshold_curves, threshold_curves

CURVE_FILE = "deception_threshold.png"


def output_files(out_dir: Path, task: Any) -> dict[str, Path]:
    """Every file the task writes with its settings (the parts switched off write none)."""
    names = {"deception.md": True, "deception.csv": True, "deception.json": True, "verdicts.csv": True,
             "verdicts.png": True, "controls.csv": task.controls, "deception_tests.csv": task.paired_tests,
             "deception_folds.csv": task.fold_judges, CURVE_FILE: task.threshold_curve}
    return {name: out_dir / name for name, on in names.items() if on}


@dataclass
class TableOne:
    """What the deception task found."""

    verdicts: pd.DataFrame                  # one row per stylized image: transfer, image, pair, p_<judge>, <judge>
    every: pd.DataFrame                     # the transfers and every control, one row per image: set, kind, ...
    rates: pd.DataFrame                     # one row per (set, condition): k, n, share, interval, mean P
    tests: pd.DataFrame = field(default_factory=pd.DataFrame)
    fold_table: pd.DataFrame = field(default_factory=pd.DataFrame)
    notes: list[str] = field(default_factory=list)

    @property
    def shares(self) -> pd.DataFrame:
        """Conditions x image sets, shares in [0, 1] (and the image count)."""
        return deception_table(self.every)


def _images(task: Any) -> tuple[pd.DataFrame, dict]:
    transfers = {t: stylized_images(spec, f"task.stylized.{t}") for t, spec in task.stylized.items()}
    made_from = sources([p for paths in transfers.values() for p in paths])
    frames = [pd.DataFrame({"set": f"{t} transfer", "kind": "transfer", "transfer": t,
                            "image": [str(p) for p in paths],
                            "pair": [made_from[p.resolve()].pair_key(p) for p in paths]})
              for t, paths in transfers.items()]
    return pd.concat(frames, ignore_index=True), made_from


def _score(frame: pd.DataFrame, judges: dict, task: Any, device: str) -> pd.DataFrame:
    """``p_<judge>`` and the verdict ``<judge>`` of every image, by each selected classifier."""
    for judge, (model, size) in judges.items():
        scored = classify_table(model, [Path(p) for p in frame["image"]], size, task.threshold, task.batch_size, device)
        frame[f"p_{judge}"] = scored["p_van_gogh"].to_numpy()
        frame[judge] = scored["van_gogh"].to_numpy()
    return frame


def build_table_one(task: Any, device: str) -> TableOne:
    """Judge the stylized images (and the controls) with the selected classifiers, and every fold's."""
    judges = {j: load_classifier(task.classifiers[j], key=f"task.classifiers.{j}", expect_backbone=j)
              for j in JUDGES}
    frame, made_from = _images(task)
    runs = {j: judge_run(j, task.classifiers[j]) for j in JUDGES} if task.controls or task.fold_judges else {}
    notes = [n for run in runs.values() for n in run.notes]
    oof = {j: out_of_fold_frame(run) for j, run in runs.items()}
    if task.controls:
        photos, photo_note = photo_control(made_from, task.get("control_photos"))
        paintings, style_note = style_control(made_from, training_files(oof))
        notes += [n for n in (photo_note, style_note) if n]
        frame = pd.concat([frame, *[pd.DataFrame({"set": name, "kind": "control", "image": [str(p) for p in paths]})
                                    for name, paths in ((PHOTOS, photos), (STYLES, paintings)) if paths]],
                          ignore_index=True)
    frame = _score(frame, judges, task, device)
    every = frame
    if task.controls:
        scored_oof, oof_notes = oof_control(oof, JUDGES, task.threshold)
        every = pd.concat([frame, scored_oof], ignore_index=True)
        notes += oof_notes
    verdicts = frame[frame["kind"] == "transfer"].drop(columns=["set", "kind"]).reset_index(drop=True)
    result = TableOne(verdicts, every, rate_rows(every, task.confidence, task.interval), notes=notes)
    if task.paired_tests:
        between_transfers, test_notes = transfer_tests(verdicts, JUDGES)
        result.tests = pd.concat([between_transfers, judge_tests(every, JUDGES)], ignore_index=True)
        result.notes += test_notes
    if task.fold_judges:
        per_fold = [v for j, run in runs.items()
                    for v in judge_with_every_fold(run, frame[["set", "image"]], task.threshold, task.batch_size,
                                                   device, Path(task.classifiers[j]).expanduser(), frame[j])]
        result.fold_table = fold_rates(per_fold)
    return result


def write_table_one(result: TableOne, task: Any, outputs: dict[str, Path]) -> str:
    """Write every file of :func:`output_files`; return the Markdown page."""
    spread = fold_spread(result.fold_table) if task.fold_judges else pd.DataFrame()
    if task.threshold_curve:
        plot_threshold_curves(threshold_curves(result.every, JUDGES), dict(zip(result.every["set"],
                              result.every["kind"])), task.threshold, outputs[CURVE_FILE])
    markdown = deception_markdown(task.threshold, task.confidence, task.interval, result.rates, result.tests,
                                  spread, result.notes, CURVE_FILE if task.threshold_curve else None)
    tables = {"deception.csv": result.rates, "verdicts.csv": result.verdicts, "deception_tests.csv": result.tests,
              "controls.csv": result.every[result.every["kind"] == "control"],
              "deception_folds.csv": result.fold_table}
    for name, table in tables.items():
        if name in outputs:
            atomic_write_text(table.to_csv(index=False), outputs[name])
    meta = {"threshold": task.threshold, "confidence": task.confidence, "interval": task.interval,
            "notes": result.notes}
    atomic_write_text(json.dumps(meta, indent=2), outputs["deception.json"])
    verdict_grid(result.verdicts, outputs["verdicts.png"])
    atomic_write_text(markdown, outputs["deception.md"])
    return markdown
