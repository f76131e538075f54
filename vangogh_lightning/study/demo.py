"""`make demo`: train, select, stylize and classify end to end with the real scripts, in a few minutes on 2 CPU
cores and without downloads (random weights, generated data; style transfer on ../shared/data if present)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from vangogh_lightning.config.overrides import override
from vangogh_lightning.data.synthetic import render_synthetic

ROOT = Path(__file__).resolve().parents[2]  # the repository: where the scripts are
SHARED = ROOT.parent / "shared" / "data"


def _run(*args: str) -> None:
    print("\n$ python " + " ".join(args), flush=True)
    subprocess.run([sys.executable, *args], cwd=ROOT, check=True)


def _demo_images(out: Path) -> tuple[Path, Path]:
    photo = SHARED / "photos" / "photo-00.jpg"
    painting = SHARED / "paintings" / "vincent-van-gogh_the-starry-night-1889.jpg"
    if photo.is_file() and painting.is_file():
        return photo, painting
    out.mkdir(parents=True, exist_ok=True)
    render_synthetic(seed=1, label=0, size=128).save(out / "content.png")
    render_synthetic(seed=2, label=1, size=128).save(out / "style.png")
    return out / "content.png", out / "style.png"


def main() -> None:
    out = ROOT / "demo_outputs" / time.strftime("%Y-%m-%d_%H-%M-%S")
    common = ["trainer.enable_model_summary=false", override("paths.log_dir", out)]
    for fold in (0, 1):
        _run("train.py", "experiment=synthetic_smoke", "data.num_folds=3", f"fold={fold}", "trainer.max_epochs=2",
             "data.synthetic_count=90", override("hydra.run.dir", out / "train" / f"fold{fold}"), *common)
    _run("evaluate.py", "task=select_folds", override("task.runs", out / "train"),
         override("task.selected_dir", out / "selected"), "task.latest=null",  # outputs/selected stays
         override("hydra.run.dir", out / "select"))
    content, style = _demo_images(out / "inputs")
    _run("stylize.py", override("content", content), override("style", style), "backbone=alexnet",
         "backbone.pretrained=false", "size=128", "steps=60", override("hydra.run.dir", out / "stylized"),
         "progress_bar=false")
    _run("evaluate.py", "task=classify", override("task.checkpoint", out / "selected" / "alexnet.ckpt"),
         override("task.images", f"{out}/stylized/*_alexnet.png"), override("hydra.run.dir", out / "classify"))
    print(f"\nDemo finished. Results are in {out}:")
    for sub in ("train", "select", "selected", "stylized", "classify"):
        print(f"  {out / sub}")
    print("(Random-initialised networks: the pipeline is real, the pictures are not art.)")


if __name__ == "__main__":
    main()
