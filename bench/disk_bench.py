"""Disk a user pays: a 5-fold run of each backbone and a search, as the product writes them now and
as it wrote them before (every fold kept best + last with optimizer state), side by side.

Runs the real ``train.py`` on generated data (the checkpoints' size is the model's, not the data's:
VGG-19's classifier takes 512x7x7 features whatever the image size) with random initialisation and
one short epoch per fold. Final size = what stays on disk; peak = the largest the run folder got
while running (sampled every 0.2 s).

    .venv/bin/python bench/disk_bench.py                          # 5-fold AlexNet and VGG-19, now vs before
    .venv/bin/python bench/disk_bench.py --search-trials 20 --search-folds 2
    .venv/bin/python bench/disk_bench.py --backbones --search-trials 4 --search-folds 2 --search-epochs 3 \\
        --search-previous
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.common import write_result  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
QUICK = ["data=synthetic", "data.synthetic_count=40", "data.image_size=64", "data.synthetic_render_size=64",
         "model.pretrained=false", "trainer.max_epochs=1", "trainer.accelerator=cpu",
         "+trainer.limit_train_batches=1", "trainer.enable_progress_bar=false", "trainer.enable_model_summary=false",
         "callbacks.early_stopping=null"]
BEFORE = ["checkpoints.keep_last=true", "callbacks.model_checkpoint.save_weights_only=false"]
# A search as the previous release ran it: every trial wrote best.ckpt (deleted when the trial ended)
# and last.ckpt every epoch. keep_best=true writes the same bytes but leaves the files: compare
# bytes written and seconds only.
PREVIOUS_SEARCH = ["checkpoints.resume_point=true", "checkpoints.keep_best=true"]
# Runs the script and reports the bytes it passed to write() (wchar of /proc/self/io) at exit.
COUNT_WRITES = ("import atexit, runpy, sys\n"
                "atexit.register(lambda: sys.stderr.write('\\nwchar ' + open('/proc/self/io').read().split()[3]))\n"
                "sys.argv = sys.argv[1:]\n"
                "runpy.run_path(sys.argv[0], run_name='__main__')\n")


def folder_bytes(path: Path) -> int:
    """Bytes of all regular files below ``path`` (0 when it does not exist)."""
    total = 0
    for dirpath, _, files in os.walk(path):
        for name in files:
            with contextlib.suppress(FileNotFoundError):  # a temp file renamed while we looked
                total += os.lstat(os.path.join(dirpath, name)).st_size
    return total


def measure(args: list[str], watch: Path) -> dict:
    """Run train.py with ``args``; final and peak bytes under ``watch``, and seconds."""
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], folder_bytes(watch))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", COUNT_WRITES, "train.py", *args], cwd=ROOT, capture_output=True,
                          text=True)
    seconds = time.perf_counter() - t0
    done.set()
    sampler.join()
    if proc.returncode != 0:
        raise SystemExit(f"train.py failed:\n{proc.stderr[-3000:]}")
    final = folder_bytes(watch)
    written = int(proc.stderr.rsplit("wchar ", 1)[1].split()[0])
    return {"final_bytes": final, "peak_bytes": max(peak[0], final), "written_bytes": written,
            "seconds": round(seconds, 1)}


def gb(n: int) -> float:
    return round(n / 1e9, 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--backbones", nargs="*", default=["alexnet", "vgg19"])
    parser.add_argument("--search-trials", type=int, default=0, help="also measure a search of this many trials")
    parser.add_argument("--search-folds", type=int, default=5)
    parser.add_argument("--search-epochs", type=int, default=1)
    parser.add_argument("--search-before", action="store_true",
                        help="also run the search as before (every trial keeps best + last: ~2-3 GB per fold)")
    parser.add_argument("--search-previous", action="store_true",
                        help="also run the search as the previous release wrote it (best + last written, then "
                             "deleted): compare bytes written and seconds")
    parser.add_argument("--work-dir", type=Path, default=None, help="where runs are written (default: a temp dir)")
    opts = parser.parse_args()
    work = opts.work_dir or Path(tempfile.mkdtemp(prefix="disk-bench-"))
    record: dict = {"folds": opts.folds, "runs": {}}
    for backbone in opts.backbones:
        for variant, extra in (("now", []), ("before", BEFORE)):
            run_dir = work / f"{backbone}-{variant}"
            res = measure([*QUICK, f"model={backbone}", f"data.num_folds={opts.folds}", *extra,
                           f"hydra.run.dir={run_dir}"], run_dir)
            res.update(final_gb=gb(res["final_bytes"]), peak_gb=gb(res["peak_bytes"]),
                       per_fold_final_gb=gb(res["final_bytes"] // opts.folds))
            record["runs"][f"{backbone} {opts.folds}-fold, {variant}"] = res
            print(backbone, variant, res, flush=True)
    if opts.search_trials:
        variants = [("now", [])] + ([("before", [*BEFORE, "checkpoints.keep_best=true"])] if opts.search_before else [])
        variants += [("previous", PREVIOUS_SEARCH)] if opts.search_previous else []
        for variant, extra in variants:
            log_dir = work / f"search-{variant}"
            res = measure(["-m", "hparams_search=optuna", *QUICK, f"data.num_folds={opts.search_folds}",
                           f"hydra.sweeper.n_trials={opts.search_trials}", "search.seed=0",
                           f"trainer.max_epochs={opts.search_epochs}", "search.pruner=null",
                           f"paths.log_dir={log_dir}", *extra], log_dir)
            res.update(final_gb=gb(res["final_bytes"]), peak_gb=gb(res["peak_bytes"]),
                       written_gb=gb(res["written_bytes"]))
            record["runs"][f"search {opts.search_trials} trials x {opts.search_folds} folds, {variant}"] = res
            print("search", variant, res, flush=True)
    write_result("disk", record)


if __name__ == "__main__":
    main()
