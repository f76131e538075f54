"""Seconds a user waits before anything useful happens: each script's --help, and stylize.py at
512 px from the command to its first optimisation step (CPU, random weights, no download).

Time to first step = wall time of ``steps=1`` minus one step, one step being the difference
between ``steps=1+N`` and ``steps=1`` divided by N. Median of ``--repeat`` runs each. The ``steps=1+N``
runs also save a snapshot after every step (``save_every=1``): the first snapshot's time since the
command started is measured directly (command -> first step done), the time after the last
snapshot is the finishing work (final losses, result, sheet, record).

    .venv/bin/python bench/startup_bench.py --data-dir ../shared/data
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.common import SHARED, write_result  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def wall(args: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, *args], cwd=ROOT, check=True, capture_output=True)
    return time.perf_counter() - t0


def snapshot_times(folder: Path, started: float) -> list[float]:
    """Seconds from ``started`` (epoch time) to each step snapshot's modification time, in order."""
    return sorted(p.stat().st_mtime - started for p in folder.glob("steps/*.png"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=SHARED)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--extra-steps", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    opts = parser.parse_args()
    record: dict = {}
    for script in ("train.py", "stylize.py", "evaluate.py"):
        record[f"{script} --help s"] = round(statistics.median(wall([script, "--help"]) for _ in range(opts.repeat)), 2)
    photo = opts.data_dir / "photos/photo-00.jpg"
    style = opts.data_dir / "paintings/vincent-van-gogh_the-starry-night-1889.jpg"
    with tempfile.TemporaryDirectory() as tmp:
        splits = []

        def stylize(steps: int, i: int, snapshots: bool = False) -> float:
            out = Path(tmp) / f"{steps}-{i}"
            started = time.time()
            seconds = wall(["stylize.py", f"content={photo}", f"style={style}", "backbone.pretrained=false",
                            f"size={opts.size}", f"steps={steps}", "progress_bar=false", f"out_dir={out}",
                            f"hydra.run.dir={out}/run", f"save_every={1 if snapshots else 0}"])
            if snapshots:
                times = snapshot_times(out, started)
                splits.append((times[0], seconds - times[-1]))
            return seconds
        one = statistics.median(stylize(1, i) for i in range(opts.repeat))
        more = statistics.median(stylize(1 + opts.extra_steps, i, snapshots=True) for i in range(opts.repeat))
    step = (more - one) / opts.extra_steps
    record["measured_command_to_first_step_done_s"] = round(statistics.median(s[0] for s in splits), 2)
    record["measured_after_last_step_s"] = round(statistics.median(s[1] for s in splits), 2)
    record.update({"stylize_size": opts.size, "stylize_steps_1_s": round(one, 2),
                   f"stylize_steps_{1 + opts.extra_steps}_s": round(more, 2), "seconds_per_step": round(step, 3),
                   "seconds_to_first_step": round(one - step, 2)})
    write_result("startup", record)


if __name__ == "__main__":
    main()
