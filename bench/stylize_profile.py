"""Where a style-transfer step's time goes: the product's Lightning step against the PyTorch
tutorial's L-BFGS closure (baseline B of stylize_bench.py), same loss, network and image, side by side.

Both figures are per closure evaluation (a Lightning step runs up to 20 L-BFGS iterations, as the
tutorial's ``max_iter=20``); B is given the product's random weights and style tensor, so both solve
the same problem. ``torch.profiler`` then splits the product's time into the tensor operators and
what is left (Python: Lightning's loop and hooks, the closure, best-iterate bookkeeping).

    .venv/bin/python bench/stylize_profile.py --size 128 --steps 40
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.common import SHARED, device_name, write_result  # noqa: E402
from bench.stylize_bench import (  # noqa: E402
    CONTENT_LAYERS,
    STYLE_LAYERS,
    WEIGHTS,
    Product,
    WholeFeatures,
    baseline_lbfgs,
    product,
)
from vangogh_lightning.config.schema import StyleSettings  # noqa: E402
from vangogh_lightning.core.images import load_rgb  # noqa: E402
from vangogh_lightning.models.backbones import build_features  # noqa: E402
from vangogh_lightning.style.engine import Backbone  # noqa: E402
from vangogh_lightning.style.image_ops import fit_size, to_tensor  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--precision", default="32-true")
    ap.add_argument("--top", type=int, default=12)
    args = ap.parse_args()
    device = torch.device("cpu")
    style_path = SHARED / "paintings/vincent-van-gogh_the-starry-night-1889.jpg"
    photo = sorted((SHARED / "photos").glob("photo-0*.jpg"))[0]
    contents = [(photo, load_rgb(photo, max_side=args.size))]
    settings = StyleSettings(size=args.size, square=False, multiscale=False, min_scale=128, steps=args.steps,
                             coarse_steps=None, optimizer="lbfgs", lr=None, init="content", lbfgs_history=50,
                             seed=0, **{f"{k}_weight": v for k, v in WEIGHTS.items()},
                             loss_normalisation="relative", progress_bar=False, precision=args.precision,
                             save_every=0, judge_weight=0.0, border_padding=0)
    cfg = Product(Backbone("vgg19", dict(CONTENT_LAYERS), dict(STYLE_LAYERS), pretrained=False, weights_path=None,
                           pooling="max"), settings, load_rgb(style_path, max_side=2 * args.size))
    product(cfg, contents, 3, device)  # one-off costs of the first fit in a process, outside the timer
    trace, _ = product(cfg, contents, args.steps, device)
    product_step = (trace[-1][0] - trace[0][0]) / (len(trace) - 1)

    torch.manual_seed(0)
    net = WholeFeatures(build_features("vgg19", pretrained=False)).to(device)  # the product's weights
    content = to_tensor(contents[0][1], contents[0][1].size).unsqueeze(0)
    style = to_tensor(cfg.style, fit_size(cfg.style.size, args.size)).unsqueeze(0)  # the product's style tensor
    trace_b = baseline_lbfgs(net, content, style, args.steps)
    b_eval = (trace_b[-1][0] - trace_b[0][0]) / (len(trace_b) - 1)

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        start = time.perf_counter()
        product(cfg, contents, args.steps, device)
        wall = time.perf_counter() - start
    events = prof.key_averages()
    total_self = sum(e.self_cpu_time_total for e in events) / 1e6
    operators = sorted((e for e in events if e.key.startswith("aten::")), key=lambda e: -e.self_cpu_time_total)
    in_operators = sum(e.self_cpu_time_total for e in operators) / 1e6
    record = {
        "device": device_name(device), "size": args.size, "steps": args.steps, "precision": args.precision,
        "product_seconds_per_evaluation": round(product_step, 4), "B_seconds_per_closure": round(b_eval, 4),
        "product_evaluation_over_B_closure": round(product_step / b_eval, 3),
        "profiled_wall_seconds": round(wall, 2), "profiled_self_seconds": round(total_self, 2),
        "share_in_tensor_operators": round(in_operators / total_self, 3),
        "top_operators": [{"op": e.key, "calls": e.count, "self_s": round(e.self_cpu_time_total / 1e6, 3),
                           "share": round(e.self_cpu_time_total / 1e6 / total_self, 3)}
                          for e in operators[: args.top]],
    }
    write_result(f"stylize-profile-{args.size}", record)


if __name__ == "__main__":
    main()
