"""``report.html``, one self-contained page of a study: gathers what it shows from the study's files (tables
as pandas' ``Styler.to_html``, images as data URIs or a note when missing); ``report.html.j2`` lays it out."""

from __future__ import annotations

import base64
import datetime
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd
import yaml
from markupsafe import Markup
from PIL import Image

from vangogh_lightning.core.atomic import atomic_write_text
from vangogh_lightning.core.backbone_registry import backbone_names, title_of
from vangogh_lightning.core.images import load_rgb
from vangogh_lightning.evaluation.evidence import EVIDENCE_INDEX, PANEL
from vangogh_lightning.evaluation.folds.selection import summarise
from vangogh_lightning.evaluation.judges import JUDGES_NOTE, OWN_THRESHOLD, JudgeQuality, judges_table, thresholds_text
from vangogh_lightning.evaluation.plots import plot_confusion, plot_roc_pr
from vangogh_lightning.evaluation.scoring import artists_taken_for_van_gogh, confusion, roc_pr
from vangogh_lightning.evaluation.table_one.judge_runs import fold_spread
from vangogh_lightning.evaluation.table_one.stats import INTERVAL_NAMES, shares_as_text
from vangogh_lightning.style.records import finished_records
from vangogh_lightning.training.run_folder import OOF_FILE

THUMB, EVIDENCE_THUMB, WIDE = 224, 132, 1100  # longest side of a grid image, an evidence map, a figure
TEMPLATE = "report.html.j2"  # beside this module (package data)


def _data_uri(image: Image.Image, max_side: int = THUMB) -> str:
    image = image.convert("RGB")
    image.thumbnail((max_side, max_side))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=88)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _img(path: Path, alt: str, max_side: int = THUMB) -> dict[str, str] | str:
    return {"src": _data_uri(load_rgb(path), max_side), "alt": alt} if path.is_file() else f"({alt}: missing)"


def _table(frame: pd.DataFrame, floatfmt: str = "{:.4f}", css: str = "", selected: int | None = None) -> Markup:
    """``frame`` as an HTML table: floats through ``floatfmt``, text escaped, row ``selected`` highlighted."""
    classes = pd.DataFrame("", index=frame.index, columns=frame.columns)
    if selected is not None:
        classes.iloc[selected] = "selected"
    styler = (frame.style.format(lambda v: floatfmt.format(v) if isinstance(v, float) else str(v), escape="html")
              .format_index(escape="html", axis=1).hide(axis="index").set_td_classes(classes))
    return Markup(styler.to_html(table_attributes=f'class="{css}"' if css else None))


def _stylized(out: Path, backbones: list[str], styles: list[Path]) -> Iterator[tuple[Path, str, list[dict | None]]]:
    """(style, content, each backbone's record or None) of every content stylized with a style by any backbone."""
    for style in styles:
        results = [{r["content"]: r for r in finished_records(out / "stylized" / b / style.stem)} for b in backbones]
        for content in sorted({c for per in results for c in per}):
            yield style, content, [per.get(content) for per in results]


def _cross_validation(out: Path, backbones: list[str]) -> list[dict[str, Any]]:
    table_path = out / "selection" / "fold_selection.csv"
    table = pd.read_csv(table_path) if table_path.is_file() else pd.DataFrame(columns=["backbone"])
    found = []
    for backbone in backbones:
        rows = table[table["backbone"] == backbone].reset_index(drop=True)
        if rows.empty:
            continue
        record = out / "selected" / f"{backbone}.json"
        fold = json.loads(record.read_text())["fold"] if record.is_file() else None
        mean = summarise(rows).loc[backbone].to_dict()  # the same "mean ± std" fold_selection.md shows
        interval = [f"{lo:.3f}–{hi:.3f}" for lo, hi in zip(rows["auroc_low"], rows["auroc_high"])] \
            if "auroc_low" in rows else ""  # (DeLong, on the fold's out-of-fold predictions)
        shown = rows[["fold", "best_epoch", "auroc", "f1", "acc", "bal_acc", "loss"]].copy()
        shown.insert(3, "AUROC 95 % CI", interval)
        shown = pd.concat([shown, pd.DataFrame([{"fold": "mean ± std", "best_epoch": "", "AUROC 95 % CI": "",
                                                 **mean}])], ignore_index=True)
        curves = out / "selection" / f"curves_{backbone}.png"
        found.append({"backbone": backbone, "fold": fold,
                      "table": _table(shown, selected=next(iter(rows.index[rows["fold"] == fold]), None)),
                      "curves": _img(curves, f"{backbone} training curves", WIDE) if curves.is_file() else None})
    return found


CONFUSION_NAMES = {"tp": "Van Gogh → Van Gogh", "fn": "Van Gogh → other", "fp": "other → Van Gogh",
                   "tn": "other → other"}


def _out_of_fold(out: Path, backbones: list[str]) -> list[dict[str, Any]]:
    found = []
    for backbone in backbones:
        frames = [pd.read_csv(f) for f in sorted((out / "train" / backbone).glob(f"fold_*/{OOF_FILE}"))]
        if not frames:
            continue
        confusions = pd.DataFrame([{"fold": int(f["fold"].iloc[0]), **confusion(f), "images": len(f)} for f in frames])
        taken = artists_taken_for_van_gogh(pd.concat(frames, ignore_index=True))
        named = {f"fold {int(f['fold'].iloc[0])} ({len(f)} images)": f for f in frames}
        curves = plot_roc_pr({name: roc_pr(f["p_van_gogh"], f["label"]) for name, f in named.items()},
                             f"{backbone}, out of fold", out / "selection" / f"oof_roc_pr_{backbone}.png")
        pictured = plot_confusion({name: confusion(f) for name, f in named.items()},
                                  out / "selection" / f"oof_confusion_{backbone}.png")
        found.append({"backbone": backbone, "confusions": _table(confusions.rename(columns=CONFUSION_NAMES)),
                      "roc_pr": _img(curves, f"{backbone} ROC and PR curves", WIDE),
                      "pictured": _img(pictured, f"{backbone} confusion matrices", WIDE),
                      "taken": None if taken.empty else _table(taken, "{:.0%}")})
    return found


# The training settings the page lists per backbone, as resolved for its run (config_resolved.yaml).
SHOWN_SETTINGS = ("model.lr", "model.weight_decay", "model.trainable_feature_modules",
                  "model.trainable_classifier_layers", "model.pos_weight", "model.pretrained", "data.image_size",
                  "data.batch_size", "data.num_folds", "data.split", "data.split_seed", "data.drop_duplicates",
                  "data.test_fraction", "trainer.max_epochs", "trainer.precision", "callbacks.early_stopping.patience",
                  "monitor.metric", "seed")
REPORT_PRESET = Path(__file__).resolve().parents[2] / "conf" / "experiment" / "report_reproduction.yaml"


def _flat(tree: dict[str, Any]) -> dict[str, Any]:
    """Settings by dotted key: ``{"model": {"lr": 1}}`` -> ``{"model.lr": 1}``."""
    return pd.json_normalize(tree, sep=".").to_dict("records")[0]


def _training_settings(out: Path, backbones: list[str]) -> dict[str, Any] | None:
    """Each backbone's resolved training settings beside the report's (``experiment=report_reproduction``
    sets them), and (href, text, W&B run) links to its run folder, checkpoints and W&B runs."""
    report = _flat(yaml.safe_load(REPORT_PRESET.read_text()) or {}) if REPORT_PRESET.is_file() else {}
    for key in ("model.lr", "model.weight_decay"):  # the report's per backbone: the model group's defaults
        models = {b: REPORT_PRESET.parents[1] / "model" / f"{b}.yaml" for b in backbones}
        report.setdefault(key, ", ".join(f"{b}: {yaml.safe_load(p.read_text()).get(key.split('.')[1])}"
                                         for b, p in models.items() if p.is_file()))
    columns, links = {}, []
    for backbone in backbones:
        run = out / "train" / backbone
        if not (run / "config_resolved.yaml").is_file():
            continue
        config = yaml.safe_load((run / "config_resolved.yaml").read_text()) or {}
        flat = _flat(config)
        columns[backbone] = [str(flat.get(key, "")) for key in SHOWN_SETTINGS]
        project = next((e.get("project") for e in (config.get("logger") or {}).values()
                        if isinstance(e, dict) and "Wandb" in str(e.get("_target_", ""))), None)
        items = [(f"{run.relative_to(out).as_posix()}/", f"{backbone} run folder", None)]
        if (out / "selected" / f"{backbone}.ckpt").is_file():
            items.append((f"selected/{backbone}.ckpt", "selected checkpoint", None))
        for fold_dir in sorted(s.parent for s in run.glob("fold_*/summary.json")):
            best = json.loads((fold_dir / "summary.json").read_text()).get("best_checkpoint")
            if best:
                items.append(((fold_dir / best).relative_to(out).as_posix(), f"{fold_dir.name} best.ckpt", None))
            if project and (fold_dir / "wandb_run_id").is_file():
                items.append((None, fold_dir.name, f"{project}/{(fold_dir / 'wandb_run_id').read_text().strip()}"))
        links.append((backbone, items))
    if not columns:
        return None
    frame = pd.DataFrame({"setting": SHOWN_SETTINGS, **columns, "the report (experiment=report_reproduction)":
                          [str(report.get(k, "")) for k in SHOWN_SETTINGS]})
    return {"table": _table(frame), "links": links}


MAX_SETS_IN_ONE_TABLE = 7  # more columns than this do not fit the page: transfers and controls apart


def _rate_tables(rates: pd.DataFrame) -> list[Markup]:
    shown = shares_as_text(rates)
    control = shown.columns.isin(rates.loc[rates["kind"] == "control", "set"])
    wide = len(shown.columns) > MAX_SETS_IN_ONE_TABLE
    groups = [shown.columns[~control], shown.columns[control]] if wide else [shown.columns]
    return [_table(shown[columns].reset_index(), css="rates") for columns in groups if len(columns)]


def _deception(out: Path) -> dict[str, Any] | None:
    folder = out / "deception"
    if not (folder / "deception.csv").is_file():
        return None
    meta = json.loads((folder / "deception.json").read_text()) if (folder / "deception.json").is_file() else {}
    found = {**meta, "interval": INTERVAL_NAMES.get(meta.get("interval"), ""),  # and confidence, warnings, notes
             "rates": _rate_tables(pd.read_csv(folder / "deception.csv")),
             "headline": thresholds_text(meta.get("thresholds") or {"": meta.get("threshold")}, meta.get("threshold"))}
    if meta.get("judges"):
        found.update(judges=_table(judges_table({j: JudgeQuality.from_dict(q) for j, q in meta["judges"].items()})),
                     judges_note=JUDGES_NOTE, calibration=_img(folder / "calibration.png", "calibration", WIDE))
    if meta.get("other_thresholds") and (folder / "deception_other_threshold.csv").is_file():
        own = "" if meta.get("threshold") == OWN_THRESHOLD else OWN_THRESHOLD
        found.update(other=thresholds_text(meta["other_thresholds"], own),
                     other_rates=_rate_tables(pd.read_csv(folder / "deception_other_threshold.csv")))
    if (folder / "deception_tests.csv").is_file() and (folder / "deception_tests.csv").stat().st_size > 1:
        tests = pd.read_csv(folder / "deception_tests.csv")
        found.update(sentences=tests["sentence"], tests=_table(tests.drop(columns=["sentence"]), "{:.3g}"))
    folds_path = folder / "deception_folds.csv"
    spread = fold_spread(pd.read_csv(folds_path)) if folds_path.is_file() else pd.DataFrame()
    if not spread.empty:
        found["spread"] = _table(spread[["judge", "set", "folds", "mean ± sd", "min–max"]])
    if (folder / "deception_threshold.png").is_file():
        found["curve"] = _img(folder / "deception_threshold.png", "rates against the threshold", WIDE)
    return found


def _grid(out: Path, backbones: list[str], styles: list[Path]) -> list[dict[str, Any]]:
    """Rows of (content, style, each backbone's result with both judges' (judge, P, verdict))."""
    verdicts_path = out / "deception" / "verdicts.csv"
    verdicts = pd.read_csv(verdicts_path) if verdicts_path.is_file() else pd.DataFrame(columns=["image"])
    by_image = {str(Path(p).resolve()): row for p, row in zip(verdicts["image"], verdicts.to_dict("records"))}
    rows = []
    for style, content, records in _stylized(out, backbones, styles):
        cells = []
        for backbone, record in zip(backbones, records):
            if record is None:
                cells.append("not stylized")
                continue
            verdict = by_image.get(str(Path(record["path"]).resolve()), {})
            cells.append({"image": _img(Path(record["path"]), f"{backbone} result"), "verdicts": [
                (j, verdict[f"p_{j}"], bool(verdict[j])) for j in backbone_names() if j in verdict]})
        rows.append({"content": _img(Path(content), "content"), "style": _img(style, "style"), "results": cells})
    return rows


def _overlay_cell(folder: Path, index: dict[tuple[str, str], dict], image: str, judge: str) -> dict[str, Any] | str:
    entry = index.get((str(Path(image).resolve()), judge))
    if entry is None or not (folder / entry["file"]).is_file():
        return "no map"
    with Image.open(folder / entry["file"]) as figure:  # image | overlay: the overlay panel
        panel = figure.convert("RGB").crop((PANEL, 0, 2 * PANEL, PANEL))
    return {"image": {"src": _data_uri(panel, EVIDENCE_THUMB), "alt": f"{judge} evidence for {Path(image).name}"},
            "judge": title_of(judge), "p": entry["p_van_gogh"]}


def _evidence(out: Path, backbones: list[str], styles: list[Path]) -> dict[str, Any] | None:
    folder = out / "deception" / "evidence"
    if not (folder / EVIDENCE_INDEX).is_file():
        return None
    index = {(str(Path(r["image"]).resolve()), r["judge"]): r
             for r in pd.read_csv(folder / EVIDENCE_INDEX).to_dict("records")}
    judges, rows = backbone_names(), []
    for _, content, records in _stylized(out, backbones, styles):  # the content, then each backbone's result
        rows.append([_img(Path(content), "content", EVIDENCE_THUMB),
                     *(_overlay_cell(folder, index, content, j) for j in judges),
                     *(_overlay_cell(folder, index, str(record["path"]), j) if record else "not stylized"
                       for record in records for j in judges)])
    figures = []
    for path in sorted(folder.glob("oof_*.png")):  # oof_<judge>_van_gogh.png, oof_<judge>_others.png
        judge, kind = path.stem.removeprefix("oof_").split("_", 1)
        figures.append((_img(path, path.stem, WIDE), title_of(judge), kind))
    return {"rows": rows, "figures": figures}


def page_warnings(out: Path) -> list[str]:
    """What the page must open with: judges no better than chance (from the deception table's record)."""
    meta_path = out / "deception" / "deception.json"
    return json.loads(meta_path.read_text()).get("warnings", []) if meta_path.is_file() else []


def write_report(out: Path, backbones: list[str], styles: list[Path], config: dict[str, Any] | None = None) -> Path:
    """Write ``<out>/report.html`` from the study's files and return its path."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).parent), autoescape=True,
                             trim_blocks=True, lstrip_blocks=True)
    page = env.get_template(TEMPLATE).render(
        out=out, when=datetime.datetime.now().strftime("%Y-%m-%d %H:%M"), backbones=backbones,
        judges=[title_of(j) for j in backbone_names()], cross_validation=_cross_validation(out, backbones),
        out_of_fold=_out_of_fold(out, backbones), deception=_deception(out), grid=_grid(out, backbones, styles),
        evidence=_evidence(out, backbones, styles), settings=_training_settings(out, backbones),
        config=json.dumps(config or {}, indent=1, default=str), warnings=page_warnings(out))
    return atomic_write_text(page, out / "report.html")
