"""Artefacts of stylized images as numbers (issue #23, part 2), the product's defaults beside a baseline.

For every photo of ``../shared/data/photos`` (``photo-0*.jpg``, ``golden_gate.jpg``, ``tubingen.jpg``)
in the style of The Starry Night, with each backbone (random weights, as everywhere here): the
grid, border and speckle measures of ``bench.artefacts`` relative to the content
(and style), and the style and content losses at the end. Two settings run side by side in one
process: ``baseline`` (``--baseline`` overrides: the settings before the fixes) and ``product``
(``conf/stylize.yaml`` as it is, plus ``--product`` overrides). Each result's losses are recorded by
its own objective and by the baseline's (bench/RESULTS.md says why the latter does not measure style
kept once the border changes). A sheet per backbone (content | baseline | product, then 4x zooms of
the top-left corner) goes to bench/out/.

    .venv/bin/python bench/artefact_bench.py --size 256 --backbones alexnet \
        --baseline backbone.border_padding=0
    .venv/bin/python bench/artefact_bench.py --size 256 --backbones vgg19 --photos 3 \
        --baseline backbone.border_padding=16 --product backbone.conv_padding=reflect
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.artefacts import artefact_figures  # noqa: E402
from bench.common import OUT, SHARED, device_name, write_result  # noqa: E402
from vangogh_lightning.core.images import load_rgb  # noqa: E402
from vangogh_lightning.style.engine import Stylizer  # noqa: E402
from vangogh_lightning.style.image_ops import comparison_sheet, fit_size, to_image, to_tensor  # noqa: E402
from vangogh_lightning.style.plan import ContentItem  # noqa: E402
from vangogh_lightning.style.task import backbone_from_config, settings_from_config  # noqa: E402

STYLE = "paintings/vincent-van-gogh_the-starry-night-1889.jpg"
GOALS = {"stride_peak": 1.5, "border_step": 1.5, "high_frequency": 1.1}


def config(backbone: str, size: int, steps: int | None, overrides: list[str]):
    """conf/stylize.yaml composed with the bench's fixed choices and the given overrides."""
    fixed = [f"backbone={backbone}", "backbone.pretrained=false", f"size={size}", "progress_bar=false",
             "device=cpu", "content=x.jpg", "paths.output_dir=unused"]
    if steps is not None:
        fixed.append(f"steps={steps}")
    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        return compose("stylize", overrides=fixed + overrides)


def corner_zoom(image: Image.Image, box: int = 48, zoom: int = 4) -> Image.Image:
    """The top-left ``box`` px enlarged ``zoom`` times without smoothing (grid and border visible)."""
    return image.crop((0, 0, box, box)).resize((box * zoom, box * zoom), Image.Resampling.NEAREST)


def run(cfg, photos, style_img) -> tuple[Stylizer, dict]:
    """Stylize each photo with ``cfg``: (the stylizer, {photo name: its image, module and seconds})."""
    torch.manual_seed(0)
    styler = Stylizer(backbone_from_config(cfg), [style_img], [1.0], settings_from_config(cfg), torch.device("cpu"))
    out = {}
    for path, img in photos:
        t0 = time.perf_counter()
        result, module, _ = styler.run_batch([ContentItem(path, img, img.size, {})])
        out[path.name] = {"image": result[0], "module": module, "seconds": time.perf_counter() - t0}
    return styler, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--steps", type=int, default=None, help="default: conf/stylize.yaml's")
    ap.add_argument("--backbones", nargs="+", default=["alexnet", "vgg19"])
    ap.add_argument("--photos", type=int, default=None, help="only the first N photos")
    ap.add_argument("--only", nargs="*", default=None, help="only these photos (file names)")
    ap.add_argument("--baseline", nargs="*", default=[], help="overrides for the baseline")
    ap.add_argument("--product", nargs="*", default=[], help="overrides for the product")
    ap.add_argument("--data-dir", type=Path, default=SHARED)
    args = ap.parse_args()
    names = sorted((args.data_dir / "photos").glob("photo-0*.jpg")) + [
        args.data_dir / "photos" / n for n in ("golden_gate.jpg", "tubingen.jpg")]
    names = [p for p in names if p.is_file() and (args.only is None or p.name in args.only)][: args.photos]
    if not names:
        raise SystemExit(f"{args.data_dir / 'photos'}: no photos; pass --data-dir (the shared data folder)")
    photos = [(p, load_rgb(p, max_side=args.size)) for p in names]
    style_img = load_rgb(args.data_dir / STYLE, max_side=2 * args.size)
    record = {"benchmark": "artefacts", "device": device_name(torch.device("cpu")), "size": args.size,
              "baseline_overrides": args.baseline, "product_overrides": args.product, "goals": GOALS,
              "backbones": {}}
    for backbone in args.backbones:
        runs = {}
        for label, overrides in (("baseline", args.baseline), ("product", args.product)):
            runs[label] = run(config(backbone, args.size, args.steps, overrides), photos, style_img)
        reference = runs["baseline"][1]
        stride = runs["product"][0].extractor.first_stride
        rows, sheets = {}, []
        for path, img in photos:
            size = fit_size(img.size, args.size)
            content = to_tensor(img, size)
            style = to_tensor(style_img, size)
            row = {}
            ref_module = reference[path.name]["module"]
            for label, (_, results) in runs.items():
                res = results[path.name]
                own = res["module"].evaluate(res["image"][None])
                base = ref_module.evaluate(res["image"][None])
                row[label] = {**{k: round(v, 3) for k, v in artefact_figures(res["image"], content, style,
                                                                             stride).items()},
                              "style_loss": own["style"][0], "content_loss": own["content"][0],
                              "style_loss_by_baseline": base["style"][0],
                              "content_loss_by_baseline": base["content"][0],
                              "seconds": round(res["seconds"], 2)}
            rows[path.name] = row
            images = [img.resize(size)] + [to_image(runs[k][1][path.name]["image"]) for k in ("baseline", "product")]
            sheets.append(comparison_sheet(images + [corner_zoom(im) for im in images], height=192))
        summary = {}
        for label in runs:
            summary[label] = {k: {"max": max(r[label][k] for r in rows.values()),
                                  "median": statistics.median(r[label][k] for r in rows.values())}
                              for k in (*GOALS, "style_loss_by_baseline", "content_loss_by_baseline", "seconds")}
            summary[label]["goals_met"] = {k: summary[label][k]["max"] <= g for k, g in GOALS.items()}
        base_style = statistics.mean(r["baseline"]["style_loss_by_baseline"] for r in rows.values())
        prod_style = statistics.mean(r["product"]["style_loss_by_baseline"] for r in rows.values())
        summary["style_loss_product_vs_baseline"] = round(prod_style / base_style, 3)
        record["backbones"][backbone] = {"stride": stride, "photos": rows, "summary": summary}
        OUT.mkdir(parents=True, exist_ok=True)
        width = max(s.width for s in sheets)
        grid = Image.new("RGB", (width, sum(s.height + 8 for s in sheets)), "white")
        y = 0
        for s in sheets:
            grid.paste(s, (0, y))
            y += s.height + 8
        sheet_path = OUT / f"artefacts-{backbone}-{args.size}-{time.strftime('%Y%m%d-%H%M%S')}.jpg"
        grid.save(sheet_path, quality=90)
        record["backbones"][backbone]["sheet"] = str(sheet_path.relative_to(ROOT))
    write_result(f"artefacts-{args.size}", record)


if __name__ == "__main__":
    main()
