"""``report.html``: one self-contained page of a study (tables, curves, images embedded)."""

from __future__ import annotations

import base64
import datetime
import html
import io
import json
from pathlib import Path
from typing import Any

import pandas as pd
from PIL import Image

from vangogh_lightning.core.atomic import atomic_write_text
from vangogh_lightning.core.backbone_registry import title_of
from vangogh_lightning.core.images import load_rgb
from vangogh_lightning.evaluation.comparisons import fold_spread
from vangogh_lightning.evaluation.curves import curves
from vangogh_lightning.evaluation.deception import JUDGES, shares_as_text
from vangogh_lightning.evaluation.deception_report import INTERVAL_NAMES
from vangogh_lightning.evaluation.evidence_files import EVIDENCE_INDEX, PANEL
from vangogh_lightning.evaluation.oof_tables import artists_taken_for_van_gogh, confusion
from vangogh_lightning.evaluation.plots import plot_confusion, plot_roc_pr
from vangogh_lightning.evaluation.selection import summarise
from vangogh_lightning.style.records import finished_records
from vangogh_lightning.training.run_folder import OOF_FILE

THUMB = 224
EVIDENCE_THUMB = 132
STYLE = """
.evidence img{width:128px}.evidence td,.evidence th{font-size:.8em}
.rates td,.rates th{white-space:nowrap;font-size:.82em;padding:.25em .4em}.rates th{white-space:normal}
body{font:15px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222;padding:0 1em}
h1{font-size:1.6em}h2{border-bottom:2px solid #e6b422;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:.6em 0 1.2em}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:right}
th{background:#f4f1e8}td:first-child,th:first-child{text-align:left}tr.selected td{background:#fff3c4;font-weight:600}
figure{display:inline-block;margin:.3em;text-align:center;vertical-align:top}figcaption{font-size:.85em}
img{max-width:100%;border:1px solid #ddd}.grid td,.grid th{vertical-align:top;text-align:center}
.grid img{width:210px}.yes{color:#0a7d28;font-weight:600}.no{color:#a11}.note{color:#666;font-size:.9em}
"""


def _data_uri(image: Image.Image, max_side: int = THUMB) -> str:
    image = image.convert("RGB")
    image.thumbnail((max_side, max_side))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=88)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _img(path: Path, alt: str, max_side: int = THUMB) -> str:
    if not path.is_file():
        return f'<span class="note">({html.escape(alt)}: missing)</span>'
    return f'<img src="{_data_uri(load_rgb(path), max_side)}" alt="{html.escape(alt)}">'


def _table(frame: pd.DataFrame, selected_row: int | None = None, floatfmt: str = "{:.4f}",
           table_class: str = "") -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = []
    for i, (_, row) in enumerate(frame.iterrows()):
        cells = "".join(f"<td>{html.escape(floatfmt.format(v) if isinstance(v, float) else str(v))}</td>"
                        for v in row)
        css = ' class="selected"' if i == selected_row else ""
        rows.append(f"<tr{css}>{cells}</tr>")
    attrs = f' class="{table_class}"' if table_class else ""
    return f"<table{attrs}><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _verdict(p: float, yes: bool) -> str:
    css, word = ("yes", "Van Gogh") if yes else ("no", "not Van Gogh")
    return f'<span class="{css}">{word}</span> ({p:.2f})'


def _cross_validation(out: Path, backbones: list[str]) -> str:
    table_path = out / "selection" / "fold_selection.csv"
    if not table_path.is_file():
        return '<p class="note">No fold selection yet.</p>'
    table = pd.read_csv(table_path)
    parts = []
    for backbone in backbones:
        rows = table[table["backbone"] == backbone].reset_index(drop=True)
        if rows.empty:
            continue
        record = out / "selected" / f"{backbone}.json"
        fold = json.loads(record.read_text())["fold"] if record.is_file() else None
        shown = rows[["fold", "best_epoch", "auroc", "f1", "acc", "bal_acc", "loss"]].copy()
        mean = summarise(rows).loc[backbone].to_dict()  # the same "mean ± std" fold_selection.md shows
        shown = pd.concat([shown, pd.DataFrame([{"fold": "mean ± std", "best_epoch": "", **mean}])],
                          ignore_index=True)
        pick = int(rows.index[rows["fold"] == fold][0]) if fold is not None and (rows["fold"] == fold).any() else None
        parts.append(f"<h3>{backbone}</h3>" + _table(shown, pick)
                     + (f'<p>Selected: <b>fold {fold}</b> (highlighted) → <code>selected/{backbone}.ckpt</code></p>'
                        if fold is not None else ""))
        curves = out / "selection" / f"curves_{backbone}.png"
        if curves.is_file():
            parts.append(f'<figure>{_img(curves, f"{backbone} training curves", 1100)}'
                         f"<figcaption>{backbone}: loss, AUROC and F1 per epoch, one line per fold"
                         "</figcaption></figure>")
    return "".join(parts)


def _out_of_fold(out: Path, backbones: list[str]) -> str:
    parts = []
    for backbone in backbones:
        files = sorted((out / "train" / backbone).glob(f"fold_*/{OOF_FILE}"))
        if not files:
            continue
        frames = [pd.read_csv(f) for f in files]
        rows = [{"fold": int(f["fold"].iloc[0]), **confusion(f), "images": len(f)} for f in frames]
        confusions = pd.DataFrame(rows).rename(columns={
            "tp": "Van Gogh → Van Gogh", "fn": "Van Gogh → other", "fp": "other → Van Gogh", "tn": "other → other"})
        taken = artists_taken_for_van_gogh(pd.concat(frames, ignore_index=True))
        parts.append(f"<h3>{backbone}</h3><p>Confusion matrix per fold (true → predicted, threshold of the "
                     "model):</p>" + _table(confusions))
        named = {f"fold {int(f['fold'].iloc[0])} ({len(f)} images)": f for f in frames}
        figures = out / "selection"
        roc_pr = plot_roc_pr({name: curves(f) for name, f in named.items()}, f"{backbone}, out of fold",
                             figures / f"oof_roc_pr_{backbone}.png")
        pictured = plot_confusion({name: confusion(f) for name, f in named.items()},
                                  figures / f"oof_confusion_{backbone}.png")
        parts.append(f'<figure>{_img(roc_pr, f"{backbone} ROC and PR curves", 1100)}<figcaption>{backbone}: ROC '
                     "and precision-recall curves of each fold's out-of-fold predictions</figcaption></figure>"
                     f'<figure>{_img(pictured, f"{backbone} confusion matrices", 1100)}<figcaption>{backbone}: '
                     "each fold's confusion matrix (counts, and shares of each true class)</figcaption></figure>")
        if taken.empty:
            parts.append('<p class="note">No painting by another artist was taken for Van Gogh.</p>')
        else:
            parts.append("<p>Artists most often taken for Van Gogh (all folds):</p>"
                         + _table(taken, floatfmt="{:.0%}"))
    return "".join(parts) or '<p class="note">No out-of-fold predictions.</p>'


# The training settings the page lists per backbone, as resolved for its run (config_resolved.yaml).
SHOWN_SETTINGS = ("model.lr", "model.weight_decay", "model.trainable_feature_modules",
                  "model.trainable_classifier_layers", "model.pos_weight", "model.pretrained", "data.image_size",
                  "data.batch_size", "data.num_folds",
                  "data.split", "data.split_seed", "data.drop_duplicates", "data.test_fraction", "trainer.max_epochs",
                  "trainer.precision", "callbacks.early_stopping.patience", "monitor.metric", "seed")
REPORT_PRESET = Path(__file__).resolve().parents[2] / "conf" / "experiment" / "report_reproduction.yaml"


def _flat(tree: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(tree, dict):
        return {prefix: tree}
    return {k: v for key, value in tree.items() if key != "defaults"
            for k, v in _flat(value, f"{prefix}.{key}" if prefix else str(key)).items()}


def _training_settings(out: Path, backbones: list[str]) -> str:
    """Each backbone's resolved training settings beside the report's (``experiment=report_reproduction``
    sets them), and links to its run folder, checkpoints and W&B runs."""
    import yaml

    report = _flat(yaml.safe_load(REPORT_PRESET.read_text())) if REPORT_PRESET.is_file() else {}
    columns, links = {}, []
    for backbone in backbones:
        run = out / "train" / backbone
        resolved = run / "config_resolved.yaml"
        if not resolved.is_file():
            continue
        config = yaml.safe_load(resolved.read_text()) or {}
        flat = _flat(config)
        columns[backbone] = [flat.get(key, "") for key in SHOWN_SETTINGS]
        folds = sorted(run.glob("fold_*/summary.json"))
        project = next((e.get("project") for e in (config.get("logger") or {}).values()
                        if isinstance(e, dict) and "Wandb" in str(e.get("_target_", ""))), None)
        items = [f'<a href="{html.escape(run.relative_to(out).as_posix())}/">{backbone} run folder</a>']
        if (out / "selected" / f"{backbone}.ckpt").is_file():
            items.append(f'<a href="selected/{backbone}.ckpt">selected checkpoint</a>')
        for summary in folds:
            fold_dir = summary.parent
            best = json.loads(summary.read_text()).get("best_checkpoint")
            if best:
                href = (fold_dir / best).relative_to(out).as_posix()
                items.append(f'<a href="{html.escape(href)}">{fold_dir.name} best.ckpt</a>')
            if project and (fold_dir / "wandb_run_id").is_file():
                items.append(f"{fold_dir.name}: W&amp;B run <code>{html.escape(project)}/"
                             f"{html.escape((fold_dir / 'wandb_run_id').read_text().strip())}</code>")
        links.append(f"<li>{backbone}: {' · '.join(items)}</li>")
    if not columns:
        return '<p class="note">No finished training run.</p>'
    frame = pd.DataFrame({"setting": SHOWN_SETTINGS, **{b: [str(v) for v in vals] for b, vals in columns.items()},
                          "the report (experiment=report_reproduction)": [str(report.get(k, ""))
                                                                          for k in SHOWN_SETTINGS]})
    return ("<p>As each backbone was trained (every <code>${...}</code> resolved); the last column is the "
            "report's value where the reproduction preset sets one.</p>" + _table(frame, floatfmt="{:g}")
            + "<ul>" + "".join(links) + "</ul>")


MAX_SETS_IN_ONE_TABLE = 7  # more columns than this do not fit the page: transfers and controls apart


def _rate_tables(rates: pd.DataFrame) -> list[str]:
    shown = shares_as_text(rates)
    kinds = dict(zip(rates["set"], rates["kind"]))
    groups = [list(shown.columns)]
    if len(shown.columns) > MAX_SETS_IN_ONE_TABLE:
        controls = [c for c in shown.columns if kinds[c] == "control"]
        groups = [[c for c in shown.columns if c not in controls], controls]
    return [_table(shown[columns].reset_index(), table_class="rates") for columns in groups if columns]


def _deception(out: Path) -> str:
    folder = out / "deception"
    if not (folder / "deception.csv").is_file():
        return '<p class="note">No deception table (needs both backbones).</p>'
    meta = json.loads((folder / "deception.json").read_text()) if (folder / "deception.json").is_file() else {}
    rates = pd.read_csv(folder / "deception.csv")
    interval = INTERVAL_NAMES.get(meta.get("interval"), "")
    parts = [f"<p>Each cell: share judged Van Gogh at threshold {meta.get('threshold', '')} (k/n; "
             f"{meta.get('confidence', 0):.0%} {interval} interval). The transfers first, then the controls, "
             "judged by the same classifiers at the same threshold.</p>",
             *_rate_tables(rates)]
    tests_path = folder / "deception_tests.csv"
    if tests_path.is_file() and tests_path.stat().st_size > 1:
        tests = pd.read_csv(tests_path)
        parts.append("<h3>Is the difference more than chance?</h3><ul>"
                     + "".join(f"<li>{html.escape(s)}</li>" for s in tests["sentence"]) + "</ul>"
                     + _table(tests.drop(columns=["sentence"]), floatfmt="{:.3g}"))
    folds_path = folder / "deception_folds.csv"
    spread = fold_spread(pd.read_csv(folds_path)) if folds_path.is_file() else pd.DataFrame()
    if not spread.empty:
        shown = pd.DataFrame({"judge": spread["judge"], "set": spread["set"], "folds": spread["folds"],
                              "mean ± sd": [f"{m:.0%} ± {s:.0%}" for m, s in zip(spread["mean"], spread["sd"])],
                              "min–max": [f"{a:.0%}–{b:.0%}" for a, b in zip(spread["min"], spread["max"])]})
        parts.append("<h3>Every fold as a judge</h3><p>The share judged Van Gogh by each fold's classifier, "
                     "across the folds: how much the table depends on the fold the selection picked.</p>"
                     + _table(shown))
    curve = folder / "deception_threshold.png"
    if curve.is_file():
        parts.append(f'<figure>{_img(curve, "rates against the threshold", 1100)}<figcaption>Each rate against '
                     "the threshold (controls dashed); the dotted line is the threshold used above.</figcaption>"
                     "</figure>")
    if meta.get("notes"):
        parts.append("<h3>Notes</h3><ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in meta["notes"]) + "</ul>")
    return "".join(parts)


def _grid(out: Path, backbones: list[str], styles: list[Path]) -> str:
    verdicts_path = out / "deception" / "verdicts.csv"
    verdicts = pd.read_csv(verdicts_path) if verdicts_path.is_file() else pd.DataFrame(columns=["image"])
    by_image = {str(Path(p).resolve()): row for p, row in zip(verdicts["image"], verdicts.to_dict("records"))}
    head = "<tr><th>content</th><th>style</th>" + "".join(f"<th>{b} result</th>" for b in backbones) + "</tr>"
    rows = []
    for style in styles:
        results = {b: {r["content"]: r for r in finished_records(out / "stylized" / b / style.stem)} for b in backbones}
        contents = sorted({c for per in results.values() for c in per})
        for content in contents:
            cells = [_img(Path(content), "content"), _img(style, "style")]
            for backbone in backbones:
                record = results[backbone].get(content)
                if record is None:
                    cells.append('<span class="note">not stylized</span>')
                    continue
                verdict = by_image.get(str(Path(record["path"]).resolve()))
                caption = "".join(f"<br>{j}: {_verdict(verdict[f'p_{j}'], bool(verdict[j]))}"
                                  for j in JUDGES if verdict is not None and j in verdict)
                cells.append(_img(Path(record["path"]), f"{backbone} result") + caption)
            rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    if not rows:
        return '<p class="note">No stylized images.</p>'
    return f'<table class="grid">{head}{"".join(rows)}</table>'


def _overlay_cell(folder: Path, index: dict[tuple[str, str], dict], image: str, judge: str) -> str:
    entry = index.get((str(Path(image).resolve()), judge))
    if entry is None or not (folder / entry["file"]).is_file():
        return '<span class="note">no map</span>'
    with Image.open(folder / entry["file"]) as figure:  # image | overlay: the overlay panel
        panel = figure.convert("RGB").crop((PANEL, 0, 2 * PANEL, PANEL))
    alt = f"{judge} evidence for {Path(image).name}"
    return (f'<img src="{_data_uri(panel, EVIDENCE_THUMB)}" alt="{html.escape(alt)}"><br>'
            f"{title_of(judge)}: P = {entry['p_van_gogh']:.2f}")


def _evidence(out: Path, backbones: list[str], styles: list[Path]) -> str:
    folder = out / "deception" / "evidence"
    if not (folder / EVIDENCE_INDEX).is_file():
        return '<p class="note">No evidence maps (evaluate.py task=deception task.evidence=true writes them).</p>'
    rows = pd.read_csv(folder / EVIDENCE_INDEX).to_dict("records")
    index = {(str(Path(r["image"]).resolve()), r["judge"]): r for r in rows}
    head = "<tr><th>content</th>" + "".join(f"<th>content by {title_of(j)}</th>" for j in JUDGES)
    head += "".join(f"<th>{b} transfer by {title_of(j)}</th>" for b in backbones for j in JUDGES) + "</tr>"
    table = []
    for style in styles:
        results = {b: {r["content"]: r for r in finished_records(out / "stylized" / b / style.stem)} for b in backbones}
        for content in sorted({c for per in results.values() for c in per}):
            cells = [_img(Path(content), "content", EVIDENCE_THUMB)]
            cells += [_overlay_cell(folder, index, content, j) for j in JUDGES]
            for backbone in backbones:
                record = results[backbone].get(content)
                cells += [_overlay_cell(folder, index, str(record["path"]), j) if record else
                          '<span class="note">not stylized</span>' for j in JUDGES]
            table.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    parts = ["<p>Grad-CAM of the Van Gogh logit at each judge's layer (bright: evidence for Van Gogh), "
             "on the image as the classifier saw it.</p>",
             f'<table class="grid evidence">{head}{"".join(table)}</table>']
    for path in sorted(folder.glob("oof_*.png")):
        judge, kind = path.stem.removeprefix("oof_").split("_", 1)
        what = ("Van Gogh paintings it is surest of" if kind == "van_gogh"
                else "other painters' works it most took for Van Gogh")
        parts.append(f"<figure>{_img(path, path.stem, 1100)}<figcaption>{title_of(judge)}: the {what} "
                     "(out of fold: each map by the fold that never trained on the painting)</figcaption></figure>")
    return "".join(parts)


def write_report(out: Path, backbones: list[str], styles: list[Path], config: dict[str, Any] | None = None) -> Path:
    """Write ``<out>/report.html`` from the study's files and return its path."""
    when = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    settings = html.escape(json.dumps(config or {}, indent=1, default=str))
    body = f"""<h1>Bring Van Gogh back to life: study report</h1>
<p class="note">{html.escape(str(out))} · written {when}</p>
<h2>1. Cross-validation and fold selection</h2>{_cross_validation(out, backbones)}
<h2>2. Out-of-fold predictions</h2>{_out_of_fold(out, backbones)}
<h2>3. Deception rate (the report's Table 1)</h2>{_deception(out)}
<h2>4. Stylized images and both classifiers' verdicts</h2>{_grid(out, backbones, styles)}
<h2>5. Where each judge sees Van Gogh</h2>{_evidence(out, backbones, styles)}
<h2>6. Training settings and files</h2>{_training_settings(out, backbones)}
<h2>Settings</h2><details><summary>study configuration</summary><pre>{settings}</pre></details>"""
    page = (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Van Gogh study report</title>'
            f"<style>{STYLE}</style></head><body>{body}</body></html>")
    path = out / "report.html"
    atomic_write_text(page, path)
    return path
