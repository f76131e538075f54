"""Table 1 as a reviewer would accept it: every image set judged by both classifiers (transfers and
controls), the shares with intervals, paired tests, the spread across fold judges, the threshold curve."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from vangogh_lightning.core.atomic import atomic_write_text
from vangogh_lightning.core.backbone_registry import title_of
from vangogh_lightning.core.errors import UserError
from vangogh_lightning.evaluation.classify import classify_table
from vangogh_lightning.evaluation.comparisons import (
    fold_rates,
    fold_spread,
    judge_tests,
    targeted_tests,
    transfer_tests,
)
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
from vangogh_lightning.evaluation.evidence import (
    Evidence,
    explain_files,
    explain_out_of_fold,
    grid,
    out_of_fold_examples,
    save_evidence,
)
from vangogh_lightning.evaluation.evidence_files import EVIDENCE_INDEX
from vangogh_lightning.evaluation.judge_runs import judge_run, judge_with_every_fold, out_of_fold_frame
from vangogh_lightning.evaluation.plots import plot_threshold_curves, threshold_curves
from vangogh_lightning.models.checkpoints import load_classifier

CURVE_FILE = "deception_threshold.png"


def output_files(out_dir: Path, task: Any) -> dict[str, Path]:
    """Every file the task writes with its settings (the parts switched off write none)."""
    names = {"deception.md": True, "deception.csv": True, "deception.json": True, "verdicts.csv": True,
             "verdicts.png": True, "controls.csv": task.controls, "deception_tests.csv": task.paired_tests,
             "deception_folds.csv": task.fold_judges, CURVE_FILE: task.threshold_curve,
             f"evidence/{EVIDENCE_INDEX}": task.evidence}
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
    # evidence maps: each judged image by each judge, and out-of-fold examples per (judge, kind)
    evidence: list[Evidence] = field(default_factory=list)
    evidence_titles: list[str] = field(default_factory=list)
    oof_evidence: dict[tuple[str, str], tuple[list[Evidence], list[str]]] = field(default_factory=dict)

    @property
    def shares(self) -> pd.DataFrame:
        """Conditions x image sets, shares in [0, 1] (and the image count)."""
        return deception_table(self.every)


def _images(task: Any) -> tuple[pd.DataFrame, dict]:
    """The stylized images: plain transfers (``task.stylized``) and those aimed at a judge (``task.targeted``)."""
    plain = {t: stylized_images(spec, f"task.stylized.{t}") for t, spec in task.stylized.items()}
    aimed = {t: stylized_images(spec, f"task.targeted.{t}") for t, spec in (task.get("targeted") or {}).items()
             if spec is not None}
    made_from = sources([p for paths in (*plain.values(), *aimed.values()) for p in paths])
    frames = []
    for kind, sets in (("transfer", plain), ("targeted", aimed)):
        for transfer, paths in sets.items():
            judges = [made_from[p.resolve()].judge for p in paths]
            if kind == "targeted" and None in judges:
                image = paths[judges.index(None)]
                raise UserError(f"task.targeted.{transfer}: {image} was not aimed at a judge (its stylize record "
                                f"names none); pass plain transfers as task.stylized.{transfer}")
            frames.append(pd.DataFrame({
                "set": [f"{transfer} transfer" if kind == "transfer" else
                        f"{transfer} transfer aimed at {title_of(j)}" for j in judges],
                "kind": kind, "transfer": transfer, "aimed_at": judges if kind == "targeted" else None,
                "image": [str(p) for p in paths], "pair": [made_from[p.resolve()].pair_key(p) for p in paths]}))
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
    needs_runs = task.controls or task.fold_judges or (task.evidence and task.evidence_top_k)
    runs = {j: judge_run(j, task.classifiers[j]) for j in JUDGES} if needs_runs else {}
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
    verdicts = frame[frame["kind"] != "control"].drop(columns=["kind"]).reset_index(drop=True)
    result = TableOne(verdicts, every, rate_rows(every, task.confidence, task.interval), notes=notes)
    if task.paired_tests:
        between_transfers, test_notes = transfer_tests(frame[frame["kind"] == "transfer"], JUDGES)
        aimed = targeted_tests(frame[frame["kind"] != "control"], JUDGES)
        result.tests = pd.concat([between_transfers, aimed, judge_tests(every, JUDGES)], ignore_index=True)
        result.notes += test_notes
    if task.evidence:
        add_evidence(result, task, judges, frame, runs, oof, device)
    if task.fold_judges:
        per_fold = [v for j, run in runs.items()
                    for v in judge_with_every_fold(run, frame[["set", "image"]], task.threshold, task.batch_size,
                                                   device, Path(task.classifiers[j]).expanduser(), frame[j])]
        result.fold_table = fold_rates(per_fold)
    return result


def add_evidence(result: TableOne, task: Any, judges: dict, frame: pd.DataFrame, runs: dict, oof: dict,
                 device: str) -> None:
    """Grad-CAM maps of every judged image by each judge, and of each judge's out-of-fold examples."""
    for judge, (model, size) in judges.items():
        key = f"task.evidence_layers.{judge}"
        result.evidence += explain_files(model, size, [Path(p) for p in frame["image"]], task.evidence_layers[judge],
                                         device, task.batch_size, key)
        result.evidence_titles += [f"{name}: {Path(p).name}" for name, p in zip(frame["set"], frame["image"])]
        if task.evidence_top_k and judge in runs and not oof[judge].empty:
            checkpoints = dict(runs[judge].checkpoints)
            for kind, examples in out_of_fold_examples(oof[judge], task.evidence_top_k).items():
                found, titles, notes = explain_out_of_fold(examples, checkpoints, judge, task.evidence_layers[judge],
                                                           device, key)
                result.oof_evidence[(judge, kind)] = (found, titles)
                result.notes += notes


def write_evidence(result: TableOne, folder: Path) -> None:
    """``evidence/``: one figure per image and judge, a grid per judge, the out-of-fold examples, an index
    (the figures of an earlier run there, which overwrite=true replaces, are removed first)."""
    for old in folder.glob("*.png"):
        old.unlink()
    index = save_evidence(result.evidence, folder, result.evidence_titles)
    for (judge, kind), (found, titles) in result.oof_evidence.items():
        if found:
            grid([e.figure(t) for e, t in zip(found, titles)], folder / f"oof_{judge}_{kind}.png", columns=2)
            index += [{"image": str(e.image), "judge": judge, "layer": e.layer, "p_van_gogh": e.p_van_gogh,
                       "file": f"oof_{judge}_{kind}.png"} for e in found]
    atomic_write_text(pd.DataFrame(index).to_csv(index=False), folder / EVIDENCE_INDEX)


def write_table_one(result: TableOne, task: Any, outputs: dict[str, Path]) -> str:
    """Write every file of :func:`output_files`; return the Markdown page."""
    spread = fold_spread(result.fold_table) if task.fold_judges else pd.DataFrame()
    if task.threshold_curve:
        plot_threshold_curves(threshold_curves(result.every, JUDGES), dict(zip(result.every["set"],
                              result.every["kind"])), task.threshold, outputs[CURVE_FILE])
    markdown = deception_markdown(task.threshold, task.confidence, task.interval, result.rates, result.tests,
                                  spread, result.notes, CURVE_FILE if task.threshold_curve else None)
    if task.evidence:
        grids = [f"evidence/grid_{j}.png" for j in JUDGES]
        grids += [f"evidence/oof_{j}_{k}.png" for (j, k), (found, _) in result.oof_evidence.items() if found]
        markdown += "\n## Where each judge sees Van Gogh (Grad-CAM)\n\n" + "".join(f"![{g}]({g})\n" for g in grids)
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
    if task.evidence:
        write_evidence(result, outputs[f"evidence/{EVIDENCE_INDEX}"].parent)
    atomic_write_text(markdown, outputs["deception.md"])
    return markdown
