"""Pruning pays: the same search with and without pruning, side by side, epochs counted.

Runs ``train.py -m hparams_search=optuna`` twice on generated data with a learning-rate range wide
enough that trials really differ (1e-7..1e-3: the slow ones never reach the fast ones' AUROC), the
same sampler seed, ``--trials`` trials of ``--folds`` folds x ``--epochs`` epochs each. Counts the
validation epochs every trial ran (from its metrics.csv files) and the best completed value.

    .venv/bin/python bench/prune_bench.py                 # 20 trials, 2 folds x 3 epochs, AlexNet
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.common import write_result  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def search(log_dir: Path, trials: int, folds: int, epochs: int, pruning: bool, pruner: list[str] | None = None,
           sampler: str = "tpe", seed: int = 0) -> dict:
    args = ["-m", "hparams_search=optuna", "experiment=synthetic_smoke", "model=alexnet", "data.synthetic_count=40",
            f"data.num_folds={folds}", f"trainer.max_epochs={epochs}", "trainer.enable_progress_bar=false",
            "trainer.enable_model_summary=false", "callbacks.early_stopping=null", f"hydra.sweeper.n_trials={trials}",
            "hydra.sweeper.n_jobs=1", f"search.seed={seed}", "model.lr=tag(log, interval(1e-7, 1e-3))",
            f"paths.log_dir={log_dir}", f"hydra/sweeper/sampler={sampler}"]
    if not pruning:
        args.append("search.pruner=null")
    args += pruner or []
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "train.py", *args], cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-3000:])
    (table_path,) = log_dir.glob("train/multiruns/*/trials.csv")
    table = pd.read_csv(table_path)
    epochs_run = 0
    for metrics in log_dir.glob("train/multiruns/*/*/fold_*/csv/version_*/metrics.csv"):
        frame = pd.read_csv(metrics)
        epochs_run += int(frame.dropna(subset=["val/auroc"])["epoch"].nunique()) if "val/auroc" in frame else 0
    done = table[table["state"] == "COMPLETE"]
    return {"seconds": round(seconds, 1), "epochs_run": epochs_run, "epochs_budget": trials * folds * epochs,
            "states": table["state"].value_counts().to_dict(), "best_value": float(done["value"].max()),
            "completed_values": sorted(round(v, 4) for v in done["value"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--folds", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--pruner", nargs="*", default=[],
                        help="overrides for the pruned run, e.g. '~search.pruner' 'search.pruner=...'")
    parser.add_argument("--sampler", default="tpe", choices=["tpe", "random"],
                        help="random: both runs try the same 20 settings, so only the pruner differs")
    parser.add_argument("--seed", type=int, default=0, help="sampler seed of both searches")
    parser.add_argument("--baseline", type=Path, default=None,
                        help="a previous result JSON whose run without pruning is reused (same settings)")
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="prune-bench-") as tmp:
        record = {"trials": opts.trials, "folds": opts.folds, "epochs": opts.epochs, "pruner_overrides": opts.pruner,
                  "sampler": opts.sampler, "seed": opts.seed}
        if opts.baseline is not None:
            record["without_pruning"] = json.loads(opts.baseline.read_text())["without_pruning"]
            record["baseline_reused_from"] = str(opts.baseline)
        else:
            record["without_pruning"] = search(Path(tmp) / "plain", opts.trials, opts.folds, opts.epochs, False,
                                               sampler=opts.sampler, seed=opts.seed)
        print(record, flush=True)
        record["with_pruning"] = search(Path(tmp) / "pruned", opts.trials, opts.folds, opts.epochs, True,
                                        opts.pruner, opts.sampler, opts.seed)
    plain, pruned = record["without_pruning"], record["with_pruning"]
    record["epochs_ratio"] = round(pruned["epochs_run"] / plain["epochs_run"], 3)
    record["best_at_least_as_good"] = pruned["best_value"] >= plain["best_value"]
    write_result("prune", record)


if __name__ == "__main__":
    main()
