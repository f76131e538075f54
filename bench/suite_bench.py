"""The test suite's time, side by side: a baseline commit's suite against this commit's two tiers.

Each commit is cloned fresh into a temporary folder (with ``../shared`` beside it, as CI has it) and run
with one existing virtual environment, one after the other on the same machine; the figure is pytest's
own "in N s". Run by hand on an idle machine (it takes about as long as the three suites):

    .venv/bin/python bench/suite_bench.py --baseline 1216a5e

Results: ``bench/results/suite-<date>.json`` and a table on stdout.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTEST = ["-m", "pytest", "-q", "-p", "no:cacheprovider", "--durations=25"]
# What each commit's `make test` ran: the baseline's one tier, and this commit's two.
RUNS = {
    "baseline suite (make test then)": ("baseline", ["-n", "2", "--dist", "loadscope"]),
    "make test (fast tier)": ("head", ["-n", "2", "--dist", "loadgroup", "-m", "not e2e"]),
    "make test-all (every test)": ("head", ["-n", "2", "--dist", "loadgroup"]),
}


def clone(rev: str, into: Path, venv: Path) -> Path:
    """A fresh clone of ``rev`` with ``shared`` beside it and ``venv`` linked in as ``.venv``."""
    repo = into / "repo"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(repo)], check=True)
    subprocess.run(["git", "checkout", "-q", rev], cwd=repo, check=True)
    (repo / ".venv").symlink_to(venv)
    shared = ROOT.parent / "shared"
    if shared.is_dir():
        (into / "shared").symlink_to(shared)
    return repo


def pytest_seconds(output: str) -> float:
    """pytest's closing "in 123.45s"."""
    return float(re.findall(r" in ([\d.]+)s", output)[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default="1216a5e", help="the commit to compare with")
    parser.add_argument("--head", default="HEAD")
    parser.add_argument("--venv", type=Path, default=ROOT / ".venv")
    parser.add_argument("--only", nargs="*", help="run only these of the three (their names' first word)")
    args = parser.parse_args()
    revs = {"baseline": args.baseline, "head": subprocess.run(["git", "rev-parse", "--short", args.head], cwd=ROOT,
                                                              capture_output=True, text=True).stdout.strip()}
    results = {}
    with tempfile.TemporaryDirectory(prefix="suite-bench-") as tmp:
        repos = {side: clone(rev, Path(tmp) / side, args.venv.resolve()) for side, rev in revs.items()}
        for name, (side, options) in RUNS.items():
            if args.only and name.split()[0] not in args.only:
                continue
            start = time.monotonic()
            proc = subprocess.run([str(args.venv / "bin" / "python"), *PYTEST, *options], cwd=repos[side],
                                  capture_output=True, text=True)
            tail = proc.stdout.strip().splitlines()[-1]
            results[name] = {"commit": revs[side], "pytest_s": pytest_seconds(proc.stdout),
                             "wall_s": round(time.monotonic() - start, 1), "exit": proc.returncode, "summary": tail}
            print(f"{name}: {results[name]}", flush=True)
    base = next(iter(results.values()))["pytest_s"] if results else None
    print("\n| run | commit | pytest | vs baseline | result |\n|---|---|---|---|---|")
    for name, r in results.items():
        ratio = f"{r['pytest_s'] / base:.0%}" if base else "-"
        print(f"| {name} | {r['commit']} | {r['pytest_s'] / 60:.1f} min | {ratio} | {r['summary']} |")
    out = ROOT / "bench" / "results" / f"suite-{time.strftime('%Y-%m-%d-%H%M')}.json"
    out.write_text(json.dumps({"revs": revs, "results": results}, indent=2))
    print(f"\nwritten: {out}")
    sys.exit(max((r["exit"] for r in results.values()), default=0))


if __name__ == "__main__":
    main()
