"""Index validation time: the first process decodes every image; later ones read the validation cache.

Generates a WikiArt-layout tree of ``--count`` JPEGs (default 6,450, the size of the report's
Post-Impressionism index before filtering) and times ``VanGoghDataModule.index`` three ways, each in
a fresh process: no cache (every process pays this today), first run with the cache (fills it),
second run with the cache (what every later fold run and search trial pays).

    .venv/bin/python bench/index_bench.py                  # 6,450 images of 512x384
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.common import write_result  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PROBE = """
import sys, time
from vangogh_lightning.data.datamodule import VanGoghDataModule
root, cache = sys.argv[1], sys.argv[2]
t0 = time.perf_counter()
dm = VanGoghDataModule(source="wikiart", image_root=root, csv_path=root + "/classes.csv", num_workers=0,
                       validation_cache=False if cache == "off" else cache)
n = len(dm.index)
print(f"RESULT {time.perf_counter() - t0:.3f} {n}")
"""


def make_tree(root: Path, count: int, size: tuple[int, int]) -> None:
    """``count`` JPEGs under ``root/Post_Impressionism`` and a classes.csv naming them."""
    folder = root / "Post_Impressionism"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    rows = []
    for i in range(count):
        artist = "vincent van gogh" if i % 7 == 0 else "paul gauguin"
        name = f"Post_Impressionism/{artist.replace(' ', '-')}_painting-{i}.jpg"
        img = np.roll(base, i, axis=1)  # distinct bytes per file, cheap to make
        Image.fromarray(img).save(root / name, quality=85)
        rows.append({"filename": name, "artist": artist, "phash": f"{i:016x}"})
    pd.DataFrame(rows).to_csv(root / "classes.csv", index=False)


def timed(root: Path, cache: str) -> float:
    proc = subprocess.run([sys.executable, "-c", PROBE, str(root), cache], cwd=ROOT, capture_output=True,
                          text=True, check=True)
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT"))
    return float(line.split()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=6450)
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--height", type=int, default=384)
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="index-bench-") as tmp:
        root = Path(tmp) / "wikiart"
        t0 = time.perf_counter()
        make_tree(root, opts.count, (opts.width, opts.height))
        print(f"generated {opts.count} JPEGs in {time.perf_counter() - t0:.1f} s", flush=True)
        cache = str(Path(tmp) / "validation-cache.json")
        record = {
            "images": opts.count, "image_size": [opts.width, opts.height],
            "no_cache_s": timed(root, "off"),
            "first_with_cache_s": timed(root, cache),
            "later_with_cache_s": timed(root, cache),
        }
        record["speedup_later_vs_no_cache"] = round(record["no_cache_s"] / record["later_with_cache_s"], 1)
    write_result("index", record)


if __name__ == "__main__":
    main()
