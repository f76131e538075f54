"""Aiming the stylization at a judge: how the aimed-at and the held-out classifier's verdicts, and the
content kept, change with ``judge_weight``, side by side in one run.

Two judges are trained first with the real ``train.py`` (AlexNet and VGG-19 on generated brush-stroke
"paintings" vs flat colour fields, random initialisation: no ImageNet weights can be had here), then
the real ``stylize.py`` stylizes the same photos with The Starry Night aimed at one judge, once per
weight (0 = plain style transfer, the baseline). Both judges then score every result as ``evaluate.py``
does (their validation transform, threshold 0.5).

    .venv/bin/python bench/judge_bench.py                        # weights 0, 100, 1000, 10000; 4 photos
    .venv/bin/python bench/judge_bench.py --weights 0 1000 --photos 2 --size 96 --steps 50

Writes ``bench/out/judge-<time>.json`` and ``bench/out/judge-sheet-<time>.png`` (one photo across the
weights, each captioned with both judges' P(Van Gogh)).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.common import OUT, SHARED, write_result  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
STARRY = "paintings/vincent-van-gogh_the-starry-night-1889.jpg"
JUDGE_TRAINING = ["experiment=synthetic_smoke", "data.synthetic_count=160", "data.num_folds=2", "fold=0",
                  "data.image_size=64", "data.synthetic_render_size=72", "trainer.max_epochs=8",
                  "trainer.enable_progress_bar=false", "trainer.enable_model_summary=false"]


def run(script: str, *args: str) -> None:
    proc = subprocess.run([sys.executable, script, *args], cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{script} failed:\n{proc.stderr[-3000:]}")


def train_judge(backbone: str, folder: Path) -> Path:
    run("train.py", *JUDGE_TRAINING, f"model={backbone}", f"hydra.run.dir={folder}")
    return folder / "fold_0" / "checkpoints" / "best.ckpt"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", type=float, nargs="+", default=[0, 100, 1000, 10000])
    ap.add_argument("--photos", type=int, default=4)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--backbone", default="vgg19", help="the transfer backbone")
    ap.add_argument("--aim", default="alexnet", help="the judge the stylization is aimed at")
    ap.add_argument("--data-dir", type=Path, default=SHARED)
    args = ap.parse_args()
    from vangogh_lightning.evaluation.scoring import predict_files
    from vangogh_lightning.models.checkpoints import load_classifier

    photos = sorted((args.data_dir / "photos").glob("photo-0*.jpg"))[: args.photos]
    held_out = "vgg19" if args.aim == "alexnet" else "alexnet"
    work = Path(tempfile.mkdtemp(prefix="judge-bench-"))
    t0 = time.perf_counter()
    judges = {name: train_judge(name, work / f"judge-{name}") for name in (args.aim, held_out)}
    training = time.perf_counter() - t0
    models = {name: load_classifier(path) for name, path in judges.items()}
    rows, results = [], {}
    for weight in args.weights:
        out = work / f"w{weight:g}"
        t = time.perf_counter()
        aim = [f"judge={judges[args.aim]}", f"judge_weight={weight}"] if weight > 0 else []
        run("stylize.py", f"content=[{','.join(map(str, photos))}]", f"style={args.data_dir / STARRY}",
            f"backbone={args.backbone}", "backbone.pretrained=false", f"size={args.size}", f"steps={args.steps}",
            "progress_bar=false", *aim, f"out_dir={out}", f"hydra.run.dir={out}/run")
        seconds = time.perf_counter() - t
        images = [out / f"{p.stem}_{args.backbone}.png" for p in photos]
        records = [json.loads(i.with_suffix(".json").read_text()) for i in images]
        probs = {name: predict_files(model, images, size) for name, (model, size) in models.items()}
        row = {"judge_weight": weight, "seconds": round(seconds, 1),
               "content_loss": round(sum(r["final_losses"]["content"] for r in records) / len(records), 4),
               "style_loss": round(sum(r["final_losses"]["style"] for r in records) / len(records), 4)}
        for name, role in ((args.aim, "aimed"), (held_out, "held_out")):
            row[f"{role}_{name}_mean_p"] = round(sum(probs[name]) / len(images), 4)
            row[f"{role}_{name}_deception_rate"] = sum(p >= 0.5 for p in probs[name]) / len(images)
        rows.append(row)
        results[weight] = (images[0], {name: probs[name][0] for name in probs})
        print(row, flush=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    sheet = OUT / f"judge-sheet-{stamp}.png"
    sheet_of(results, args.aim, held_out, sheet)
    write_result("judge", {"benchmark": "judge", "backbone": args.backbone, "aimed_at": args.aim,
                           "held_out": held_out, "size": args.size, "steps": args.steps,
                           "photos": [p.name for p in photos], "judge_training_seconds": round(training, 1),
                           "weights": rows, "sheet": str(sheet), "work_dir": str(work)})


def sheet_of(results: dict, aim: str, held_out: str, path: Path, height: int = 192) -> None:
    """The first photo's result at every weight, side by side, captioned with both judges' P(Van Gogh)."""
    tiles = []
    for weight, (image, probs) in results.items():
        with Image.open(image) as im:
            tile = im.convert("RGB").resize((round(im.width * height / im.height), height))
        canvas = Image.new("RGB", (tile.width, height + 34), "white")
        canvas.paste(tile, (0, 0))
        draw = ImageDraw.Draw(canvas)
        draw.text((4, height + 2), f"judge_weight={weight:g}", fill="black")
        draw.text((4, height + 16), f"{aim} {probs[aim]:.2f} | {held_out} {probs[held_out]:.2f}", fill="black")
        tiles.append(canvas)
    sheet = Image.new("RGB", (sum(t.width for t in tiles) + 6 * (len(tiles) - 1), tiles[0].height), "white")
    x = 0
    for tile in tiles:
        sheet.paste(tile, (x, 0))
        x += tile.width + 6
    OUT.mkdir(parents=True, exist_ok=True)
    sheet.save(path)


if __name__ == "__main__":
    main()
