"""Table 1: every image set (transfers and controls) judged by every classifier, with intervals, paired tests,
the spread across fold judges and the threshold curve; and its files (Markdown, tables, thumbnails, maps)."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

from vangogh_lightning.core.atomic import atomic_write_text
from vangogh_lightning.core.backbone_registry import backbone_names, title_of
from vangogh_lightning.core.errors import UserError
from vangogh_lightning.core.images import atomic_save, load_rgb
from vangogh_lightning.core.markdown import to_markdown
from vangogh_lightning.data.record import refuse_mixed_data
from vangogh_lightning.evaluation.evidence import (
    EVIDENCE_INDEX,
    Evidence,
    explain_files,
    explain_out_of_fold,
    out_of_fold_examples,
    save_evidence,
)
from vangogh_lightning.evaluation.judges import (
    JUDGES_NOTE,
    OWN_THRESHOLD,
    REPORT_THRESHOLD,
    JudgeQuality,
    assess,
    chance_warning,
    judges_table,
    reliability,
    thresholds_text,
    youden_threshold,
)
from vangogh_lightning.evaluation.plots import plot_reliability, plot_threshold_curves
from vangogh_lightning.evaluation.scoring import predict_files
from vangogh_lightning.evaluation.table_one import inputs, judge_runs, stats
from vangogh_lightning.models.checkpoints import load_classifier

CURVE_FILE, CALIBRATION_FILE = "deception_threshold.png", "calibration.png"
OTHER_THRESHOLD_FILE = "deception_other_threshold.csv"


def output_files(out_dir: Path, task: Any) -> dict[str, Path]:
    """Every file the task writes with its settings (the parts switched off write none)."""
    names = {"deception.md": True, "deception.csv": True, "deception.json": True, "verdicts.csv": True,
             "verdicts.png": True, OTHER_THRESHOLD_FILE: True, CALIBRATION_FILE: True,
             "controls.csv": task.controls, "deception_tests.csv": task.paired_tests,
             "deception_folds.csv": task.fold_judges, CURVE_FILE: task.threshold_curve,
             f"evidence/{EVIDENCE_INDEX}": task.evidence}
    return {name: out_dir / name for name, on in names.items() if on}


@dataclass
class TableOne:
    """What the deception task found."""

    judges: tuple[str, ...]                 # the classifiers that judged, in Table 1's order
    verdicts: pd.DataFrame                  # one row per stylized image: transfer, image, pair, p_<judge>, <judge>
    every: pd.DataFrame                     # the transfers and every control, one row per image: set, kind, ...
    rates: pd.DataFrame                     # one row per (set, condition): k, n, share, interval, mean P
    thresholds: dict[str, float]            # per judge, the threshold of the verdicts above (the headline)
    tests: pd.DataFrame = field(default_factory=pd.DataFrame)
    fold_table: pd.DataFrame = field(default_factory=pd.DataFrame)
    notes: list[str] = field(default_factory=list)
    # can each judge judge: from its own fold's out-of-fold predictions; and the flags of those that cannot
    quality: dict[str, JudgeQuality] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    calibration: dict[str, pd.DataFrame] = field(default_factory=dict)  # per judge, :func:`judges.reliability`
    other_thresholds: dict[str, float] = field(default_factory=dict)  # Table 1 again at these (rates below)
    other_rates: pd.DataFrame = field(default_factory=pd.DataFrame)
    # evidence maps: each judged image by each judge; out-of-fold examples by figure name (oof_<judge>_<kind>)
    evidence: list[Evidence] = field(default_factory=list)
    evidence_titles: list[str] = field(default_factory=list)
    oof_evidence: dict[str, tuple[list[Evidence], list[str]]] = field(default_factory=dict)


def operating_points(setting: float | str, own: dict[str, float], judges: Sequence[str]
                     ) -> tuple[dict[str, float], dict[str, float]]:
    """(the headline thresholds, the other ones Table 1 is also shown at), per judge: ``task.threshold`` and each
    judge's own (``own``: Youden's J out of fold), whichever the setting names first."""
    usable = {j: t for j, t in own.items() if not math.isnan(t)}
    if setting == OWN_THRESHOLD:
        missing = [j for j in judges if j not in usable]
        if missing:
            raise UserError(f"task.threshold=oof: the {missing[0]} judge has no out-of-fold predictions of both "
                            "classes beside its checkpoint (fold_<k>/oof_predictions.csv of its train.py run); "
                            f"pass task.threshold={REPORT_THRESHOLD}")
        return usable, dict.fromkeys(judges, REPORT_THRESHOLD)
    return dict.fromkeys(judges, float(setting)), usable if len(usable) == len(judges) else {}


def at_thresholds(frame: pd.DataFrame, thresholds: dict[str, float]) -> pd.DataFrame:
    """``frame`` with each judge's verdict column: its ``p_<judge>`` at or above its threshold."""
    return frame.assign(**{j: frame[f"p_{j}"] >= t for j, t in thresholds.items()})


def build_table_one(task: Any, device: str) -> TableOne:
    """Judge the stylized images (and the controls) with the selected classifiers, and every fold's."""
    names = backbone_names()
    classifiers = {j: load_classifier(task.classifiers[j], key=f"task.classifiers.{j}", expect_backbone=j)
                   for j in names}
    refuse_mixed_data({f"the {j} judge": classifiers[j][0].origin["record"] for j in names}, "task.classifiers")
    frame, made_from = inputs.image_sets(task)
    runs = {j: judge_runs.judge_run(j, task.classifiers[j]) for j in names}
    notes = [n for run in runs.values() for n in run.notes]
    oof = {j: judge_runs.out_of_fold_frame(run) for j, run in runs.items()}
    own_oof = {j: pd.read_csv(run.own_oof) for j, run in runs.items() if run.own_oof}
    thresholds, other = operating_points(task.threshold, {j: youden_threshold(f["p_van_gogh"], f["label"])
                                                          for j, f in own_oof.items()}, names)
    quality = {j: assess(f, thresholds[j], task.confidence) for j, f in own_oof.items()}
    if task.controls:
        photos, photo_note = inputs.photo_control(made_from, task.get("control_photos"))
        paintings, style_note = inputs.style_control(made_from, inputs.training_files(oof))
        notes += [n for n in (photo_note, style_note) if n]
        frame = pd.concat([frame, *[pd.DataFrame({"set": name, "kind": "control", "image": [str(p) for p in paths]})
                                    for name, paths in ((inputs.PHOTOS, photos), (inputs.STYLES, paintings)) if paths]],
                          ignore_index=True)
    frame, repeated = inputs.count_once(frame)
    notes += repeated
    for judge, (model, size) in classifiers.items():  # P(Van Gogh) of every image by every judge
        frame[f"p_{judge}"] = predict_files(model, [Path(p) for p in frame["image"]], size, task.batch_size, device)
    scored_oof, oof_notes = inputs.oof_control(oof, names) if task.controls else (None, [])
    frame = at_thresholds(frame, thresholds)
    every = at_thresholds(pd.concat([frame, scored_oof], ignore_index=True), thresholds)
    notes += oof_notes
    verdicts = frame[frame["kind"] != "control"].drop(columns=["kind"]).reset_index(drop=True)
    result = TableOne(names, verdicts, every, stats.rate_rows(every, task.confidence, task.interval, names),
                      thresholds, notes=notes, quality=quality, other_thresholds=other,
                      calibration={j: reliability(f["p_van_gogh"], f["label"]) for j, f in own_oof.items()},
                      warnings=[w for w in (inputs.stand_ins({j: m.origin for j, (m, _) in classifiers.items()},
                                                             made_from),
                                            *(chance_warning(title_of(j), q) for j, q in quality.items())) if w])
    if other:
        result.other_rates = stats.rate_rows(at_thresholds(every, other), task.confidence, task.interval, names)
    if task.paired_tests:
        between_transfers, test_notes = stats.transfer_tests(frame[frame["kind"] == "transfer"], names)
        aimed = stats.targeted_tests(frame[frame["kind"] != "control"], names)
        result.tests = pd.concat([between_transfers, aimed, stats.judge_tests(every, names)], ignore_index=True)
        result.notes += test_notes
    if task.evidence:
        add_evidence(result, task, classifiers, frame, runs, oof, device)
    if task.fold_judges:
        result.fold_table = judge_runs.fold_rates([
            v for j, run in runs.items() for v in judge_runs.judge_with_every_fold(run, frame, task, thresholds[j],
                                                                                    device)])
    return result


def add_evidence(result: TableOne, task: Any, classifiers: dict, frame: pd.DataFrame, runs: dict, oof: dict,
                 device: str) -> None:
    """Grad-CAM maps of every judged image by each judge, and of each judge's out-of-fold examples."""
    for judge, (model, size) in classifiers.items():
        key = f"task.evidence_layers.{judge}"
        result.evidence += explain_files(model, size, [Path(p) for p in frame["image"]], task.evidence_layers[judge],
                                         device, task.batch_size, key)
        result.evidence_titles += [f"{name}: {Path(p).name}" for name, p in zip(frame["set"], frame["image"])]
        if task.evidence_top_k and judge in runs and not oof[judge].empty:
            for kind, examples in out_of_fold_examples(oof[judge], task.evidence_top_k).items():
                found, titles, notes = explain_out_of_fold(examples, dict(runs[judge].checkpoints), judge,
                                                           task.evidence_layers[judge], device, key)
                if found:
                    result.oof_evidence[f"oof_{judge}_{kind}"] = (found, titles)
                result.notes += notes


def threshold_curves(verdicts: pd.DataFrame, judges: Sequence[str], steps: int = 101) -> pd.DataFrame:
    """Share of each set judged Van Gogh (P >= threshold) per judge, at ``steps`` thresholds over [0, 1] and at
    every probability that occurs: columns judge, set, threshold, rate."""
    rows = []
    for judge in judges:
        for name, group in verdicts.groupby("set", sort=False):
            probs = np.sort(group[f"p_{judge}"].to_numpy(dtype=float))
            thresholds = np.union1d(np.linspace(0.0, 1.0, steps), probs)
            rates = 1.0 - np.searchsorted(probs, thresholds, side="left") / len(probs)
            rows.append(pd.DataFrame({"judge": judge, "set": name, "threshold": thresholds, "rate": rates}))
    return pd.concat(rows, ignore_index=True)


def verdict_grid(verdicts: pd.DataFrame, judges: Sequence[str], path: Path) -> Path:
    """A grid of thumbnails, each captioned with its set and file, and a line per judge ('VGG19 0.71 Van Gogh'),
    green where the judge said Van Gogh."""
    from PIL import ImageFont

    thumb, columns, line = 200, 5, 17
    caption_h = line * (1 + len(judges)) + 6
    font = ImageFont.load_default(size=13)
    rows = -(-len(verdicts) // columns)
    sheet = Image.new("RGB", (columns * thumb, rows * (thumb + caption_h)), "white")
    draw = ImageDraw.Draw(sheet)
    for i, row in enumerate(verdicts.to_dict("records")):
        img = load_rgb(row["image"], max_side=thumb - 8)
        x, y = (i % columns) * thumb, (i // columns) * (thumb + caption_h)
        sheet.paste(img, (x + (thumb - img.width) // 2, y + (thumb - img.height) // 2))
        draw.text((x + 6, y + thumb + 2), f"{row['transfer']}: {Path(row['image']).name[:22]}", fill="black", font=font)
        for k, judge in enumerate(judges, start=1):
            said = bool(row[judge])
            draw.text((x + 6, y + thumb + 2 + k * line), f"{title_of(judge)} {row[f'p_{judge}']:.2f} "
                      f"{'Van Gogh' if said else 'not Van Gogh'}", fill="darkgreen" if said else "dimgray", font=font)
    return atomic_save(sheet, path)


def table_one_markdown(result: TableOne, task: Any, spread: pd.DataFrame) -> str:
    """The whole result as one Markdown page."""
    parts = [f"# Deception rate ({thresholds_text(result.thresholds, task.threshold)})\n",
             *[f"**Warning: {w}.**\n" for w in result.warnings],
             f"Each cell: share judged Van Gogh (k/n; {task.confidence:.0%} {stats.INTERVAL_NAMES[task.interval]} "
             "interval). Transfers first, then the controls, judged by the same classifiers at the same threshold.\n"]
    if (result.rates["kind"] == "targeted").any():
        others = "the other judge's row" if len(result.judges) == 2 else "the other judges' rows"
        parts.append("Columns 'aimed at X': transfers optimised against judge X as well (stylize.py judge=...). X's "
                     "row measures how adversarial they are to the network they were aimed at; "
                     f"{others}, held out, whether they look like Van Gogh to another network too.\n")
    parts.append(to_markdown(stats.shares_as_text(result.rates, result.judges), index=True))
    if result.quality:
        parts += ["\n## Can each judge judge?\n", JUDGES_NOTE + "\n", to_markdown(judges_table(result.quality))]
    if result.other_thresholds:
        other = "" if task.threshold == OWN_THRESHOLD else OWN_THRESHOLD
        parts += [f"\n## The same at {thresholds_text(result.other_thresholds, other)}\n",
                  to_markdown(stats.shares_as_text(result.other_rates, result.judges), index=True)]
    if not result.tests.empty:
        parts += ["\n## Is the difference more than chance? (exact McNemar on paired verdicts)\n",
                  "`only_first` / `only_second`: pairs in which only the first / only the second said Van Gogh.\n",
                  to_markdown(result.tests.drop(columns=["sentence"]), index=False, floatfmt=".3g"),
                  *[f"- {s}" for s in result.tests["sentence"]]]
    if not spread.empty:
        parts += ["\n## Every fold as a judge (share judged Van Gogh, across the fold classifiers)\n",
                  to_markdown(spread[["judge", "set", "folds", "mean ± sd", "min–max"]], index=False)]
    if task.threshold_curve:
        parts.append(f"\n![each rate against the threshold]({CURVE_FILE})\n")
    if result.quality:
        parts.append(f"\n![each judge's calibration out of fold]({CALIBRATION_FILE})\n")
    if result.notes:
        parts += ["\n## Notes\n", *[f"- {n}" for n in result.notes]]
    markdown = "\n".join(parts) + "\n"
    if task.evidence:
        grids = [f"evidence/{name}.png" for name in (*(f"grid_{j}" for j in result.judges), *result.oof_evidence)]
        markdown += "\n## Where each judge sees Van Gogh (Grad-CAM)\n\n" + "".join(f"![{g}]({g})\n" for g in grids)
    return markdown


def write_table_one(result: TableOne, task: Any, outputs: dict[str, Path]) -> str:
    """Write every file of :func:`output_files`; return the Markdown page."""
    if task.threshold_curve:
        plot_threshold_curves(threshold_curves(result.every, result.judges), dict(zip(result.every["set"],
                              result.every["kind"])), result.thresholds, outputs[CURVE_FILE])
    if result.quality:
        plot_reliability(result.calibration, result.quality, outputs[CALIBRATION_FILE])
    else:  # (an earlier run's, which overwrite=true replaces)
        outputs[CALIBRATION_FILE].unlink(missing_ok=True)
    spread = judge_runs.fold_spread(result.fold_table) if task.fold_judges else pd.DataFrame()
    markdown = table_one_markdown(result, task, spread)
    tables = {"deception.csv": result.rates, "verdicts.csv": result.verdicts, "deception_tests.csv": result.tests,
              "controls.csv": result.every[result.every["kind"] == "control"],
              "deception_folds.csv": result.fold_table, OTHER_THRESHOLD_FILE: result.other_rates}
    for name, table in tables.items():
        if name in outputs and not (name == OTHER_THRESHOLD_FILE and table.empty):
            atomic_write_text(table.to_csv(index=False), outputs[name])
        elif name in outputs:
            outputs[name].unlink(missing_ok=True)
    atomic_write_text(json.dumps({"threshold": task.threshold, "thresholds": result.thresholds,
                                  "other_thresholds": result.other_thresholds, "confidence": task.confidence,
                                  "interval": task.interval, "warnings": result.warnings,
                                  "judges": {j: q.as_dict() for j, q in result.quality.items()},
                                  "notes": result.notes}, indent=2), outputs["deception.json"])
    verdict_grid(result.verdicts, result.judges, outputs["verdicts.png"])
    if task.evidence:
        folder = outputs[f"evidence/{EVIDENCE_INDEX}"].parent
        for old in folder.glob("*.png"):  # an earlier run's figures, which overwrite=true replaces
            old.unlink()
        save_evidence(result.evidence, folder, result.evidence_titles, result.oof_evidence)
    atomic_write_text(markdown, outputs["deception.md"])
    return markdown
