"""Style-transfer speed: the product vs. the report's Adam loop (A) and the PyTorch-tutorial L-BFGS (B).

All three minimise the same function: the same content and style tensors (the style resized as the
product resizes it), loss definition (vangogh_lightning.style.losses, report layers and weights; the
baselines compute the Gram matrices as the tutorial does) and random-initialised VGG-19 weights
(build_features, the product's). Metric: wall time until the total loss is at or below what baseline A
reaches after --baseline-steps steps ("time to the same loss"). Every contender runs after a warm-up
(the network at the working size, one short product fit per variant); B and the product variants then
run --repeats times in turn, and each one's best time counts (other jobs share the CPU).

    .venv/bin/python bench/stylize_bench.py --size 256 --precision 32-true bf16-mixed
    .venv/bin/python bench/stylize_bench.py --size 512 --baseline-steps 100
    .venv/bin/python bench/stylize_bench.py --size 256 --batch 8      # throughput only
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import sys
import time
from pathlib import Path
from unittest import mock

import lightning as L
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.common import OUT, SHARED, device_name, write_result  # noqa: E402
from vangogh_lightning.config.schema import StyleSettings  # noqa: E402
from vangogh_lightning.core.images import load_rgb  # noqa: E402
from vangogh_lightning.models.backbones import IMAGENET_MEAN, IMAGENET_STD, build_features  # noqa: E402
from vangogh_lightning.style import losses as style_losses  # noqa: E402
from vangogh_lightning.style import module as style_module  # noqa: E402
from vangogh_lightning.style.engine import Backbone, Stylizer  # noqa: E402
from vangogh_lightning.style.image_ops import fit_size, to_tensor  # noqa: E402
from vangogh_lightning.style.layers import layer_names  # noqa: E402
from vangogh_lightning.style.losses import StyleTransferLoss, gram_matrix  # noqa: E402
from vangogh_lightning.style.module import LBFGS_ITERATIONS_PER_STEP  # noqa: E402
from vangogh_lightning.style.plan import ContentItem  # noqa: E402

CONTENT_LAYERS = {"conv4_2": 1.0}
STYLE_LAYERS = {"conv1_1": 1.0, "conv2_1": 0.75, "conv3_1": 0.2, "conv4_1": 0.2}
WEIGHTS = {"content": 1.0, "style": 4e3, "tv": 70.0}  # conf/stylize.yaml's defaults


class WholeFeatures(nn.Module):
    """Baseline: run all of VGG-19 `features` (as the report's get_features did)."""

    def __init__(self, features: nn.Sequential):
        super().__init__()
        self.features = copy.deepcopy(features).eval().requires_grad_(False)
        for i, m in enumerate(self.features):
            if isinstance(m, nn.ReLU):
                self.features[i] = nn.ReLU(inplace=False)
        self.names = layer_names("vgg19", self.features)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def forward(self, x, truncate: bool = False):
        x = (x - self.mean) / self.std
        out = {}
        wanted = {*CONTENT_LAYERS, *STYLE_LAYERS}
        for name, m in zip(self.names, self.features):
            x = m(x)
            if name in wanted:
                out[name] = x
                if truncate and len(out) == len(wanted):
                    break  # the tutorial's model stops after the last loss layer
        return out


def targets(net, content, style, truncate) -> StyleTransferLoss:
    """The product's loss (relative per-layer errors, same weights) for the baselines too."""
    with torch.no_grad():
        cf = net(content, truncate)
        sf = net(style, truncate)
    grams = {n: gram_matrix(sf[n]) for n in STYLE_LAYERS}
    return StyleTransferLoss(cf, grams, CONTENT_LAYERS, STYLE_LAYERS, WEIGHTS["content"], WEIGHTS["style"],
                             WEIGHTS["tv"])


def tutorial_gram(features: torch.Tensor) -> torch.Tensor:
    """The Gram matrix as the tutorial (and the report) computes it: ``F @ F.T`` differentiated by autograd, two
    products in the backward pass (the product's ``gram_matrix`` has a one-product backward; same values)."""
    b, c, h, w = features.shape
    flat = features.reshape(b, c, h * w).float()
    return flat @ flat.transpose(1, 2) / (h * w)


@mock.patch.object(style_losses, "gram_matrix", tutorial_gram)
def baseline_adam(net, content, style, steps, lr=0.003):
    """A: the report's loop - Adam on the pixels, whole `features`, one image, fp32."""
    t0 = time.perf_counter()
    objective = targets(net, content, style, truncate=False)
    img = content.clone().requires_grad_(True)
    opt = torch.optim.Adam([img], lr=lr)
    trace = []
    for _ in range(steps):
        loss = objective(net(img), img)["total"].sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        with torch.no_grad():
            img.clamp_(0, 1)
        trace.append((time.perf_counter() - t0, loss.item()))
    return trace


@mock.patch.object(style_losses, "gram_matrix", tutorial_gram)
def baseline_lbfgs(net, content, style, max_evals):
    """B: the PyTorch neural-style tutorial - L-BFGS(lr=1, max_iter=20) stepping until max_evals closures."""
    t0 = time.perf_counter()
    objective = targets(net, content, style, truncate=True)
    img = content.clone().requires_grad_(True)
    opt = torch.optim.LBFGS([img])
    trace = []
    while len(trace) < max_evals:
        def closure():
            with torch.no_grad():
                img.clamp_(0, 1)
            opt.zero_grad()
            loss = objective(net(img, True), img)["total"].sum()
            loss.backward()
            trace.append((time.perf_counter() - t0, loss.item()))
            return loss
        opt.step(closure)
    return trace


class _Trace(L.Callback):
    """(elapsed seconds, total loss) after every evaluation (L-BFGS closure: several per Lightning step) of the
    final scale, as B's trace; coarse scales only cost time."""

    def __init__(self, t0: float, final_shape: tuple[int, int]):
        self.t0, self.final_shape, self.trace, self.loss = t0, final_shape, [], None

    def on_before_backward(self, trainer, module, loss):
        self.loss = loss

    def on_after_backward(self, trainer, module):
        if tuple(module.image.shape[-2:]) == self.final_shape:
            self.trace.append((time.perf_counter() - self.t0, self.loss.item()))


@dataclasses.dataclass
class Product:
    """What the product's engine is given: backbone, settings, the style image."""

    backbone: Backbone
    settings: StyleSettings
    style: object
    per_step: int = LBFGS_ITERATIONS_PER_STEP  # L-BFGS iterations per Lightning step (1: the design before #34)


def product(cfg: Product, contents, steps, device):
    """The product: Stylizer (Lightning, L-BFGS, truncated network, batched, optional multi-scale)."""
    settings = cfg.settings.model_copy(update={"steps": steps})
    w, h = fit_size(contents[0][1].size, settings.size)
    tracer = _Trace(0.0, (h, w))
    torch.manual_seed(0)  # same random VGG-19 as the baselines' build_features() after manual_seed(0)
    # building the network is outside the timer, as for the baselines
    styler = Stylizer(cfg.backbone, [cfg.style], [1.0], settings, device, callbacks=[tracer])
    tracer.t0 = time.perf_counter()
    items = [ContentItem(p, img, img.size, {}) for p, img in contents]
    style_module.LBFGS_ITERATIONS_PER_STEP = cfg.per_step
    try:
        result, module, _ = styler.run_batch(items)
    finally:
        style_module.LBFGS_ITERATIONS_PER_STEP = LBFGS_ITERATIONS_PER_STEP
    module.float()
    fp32 = sum(module.evaluate(result.float())["total"])  # outside autocast: full precision
    return tracer.trace, fp32


def warm_up(features: nn.Module, size: tuple[int, int], device: torch.device) -> None:
    """One forward/backward in fp32 and bf16 at the working size before any timer starts, so
    baseline A does not pay for CUDA context creation, cuDNN/oneDNN loading and kernel selection."""
    net = WholeFeatures(features).to(device)
    x = torch.rand(1, 3, size[1], size[0], device=device, requires_grad=True)
    for dtype in (torch.float32, torch.bfloat16):
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=dtype == torch.bfloat16):
            sum(f.float().square().mean() for f in net(x).values()).backward()
    if device.type == "cuda":
        torch.cuda.synchronize()


def product_with_peak(cfg, contents, steps, device) -> tuple[float, float | None]:
    """(seconds for ``steps`` steps, peak GPU memory in MiB or None on CPU)."""
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    seconds = product(cfg, contents, steps, device)[0][-1][0]
    peak = round(torch.cuda.max_memory_allocated(device) / 2**20) if device.type == "cuda" else None
    return seconds, peak


def time_to(trace, target):
    """First elapsed time at which the loss is <= target (None if never)."""
    return next((t for t, loss in trace if loss <= target), None)


def evaluations_to(trace, target):
    """How many evaluations until the loss is <= target (None if never)."""
    return next((i + 1 for i, (_, loss) in enumerate(trace) if loss <= target), None)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--baseline-steps", type=int, default=500)
    ap.add_argument("--max-steps", type=int, default=500, help="cap for B and the product")
    ap.add_argument("--batch", type=int, default=1, help=">1: product throughput on that many images")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--multiscale", default="false", help="product: true|false|auto")
    ap.add_argument("--min-scale", type=int, default=128, help="product: coarsest scale")
    ap.add_argument("--coarse-steps", type=int, default=None, help="product: steps at coarser scales")
    ap.add_argument("--precision", nargs="+", default=["32-true"], help="product: 32-true and/or bf16-mixed")
    ap.add_argument("--iterations-per-step", type=int, nargs="+", default=[LBFGS_ITERATIONS_PER_STEP],
                    help="product: L-BFGS iterations per Lightning step (1: one per step, as before #34)")
    ap.add_argument("--repeats", type=int, default=1, help="B and the product in turn, best time of each")
    ap.add_argument("--reuse-baselines", action="store_true", help="reuse A (the target) from bench/out/cache; B runs")
    ap.add_argument("--data-dir", type=Path, default=SHARED, help="folder with paintings/ and photos/")
    ap.add_argument("--lbfgs-history", type=int, default=50, help="product: L-BFGS memory")
    ap.add_argument("--border-padding", type=int, default=0,
                    help="product: mirrored border, px (0: the baselines' loss exactly, and VGG-19's default)")
    args = ap.parse_args()
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if args.device == "auto" else args.device))
    torch.manual_seed(0)
    # The product's own random VGG-19 (torchvision's models.vgg19() draws other weights: its classifier first)
    features = build_features("vgg19", pretrained=False)
    style_path = args.data_dir / "paintings/vincent-van-gogh_the-starry-night-1889.jpg"
    photos = sorted((args.data_dir / "photos").glob("photo-0*.jpg"))
    if not photos:
        raise SystemExit(f"{args.data_dir / 'photos'}: no photo-0*.jpg; pass --data-dir (the shared data folder)")
    contents = [(p, load_rgb(p, max_side=args.size)) for p in photos]
    square = [(p, img.resize(fit_size((1, 1), args.size))) for p, img in contents]  # one shape for batching
    cfg = Product(
        Backbone("vgg19", dict(CONTENT_LAYERS), dict(STYLE_LAYERS), pretrained=False, weights_path=None,
                 pooling="max", border_padding=args.border_padding),
        StyleSettings(size=args.size, square=False,
                      multiscale={"true": True, "false": False}.get(args.multiscale, args.multiscale),
                      min_scale=args.min_scale, steps=args.max_steps, coarse_steps=args.coarse_steps,
                      optimizer="lbfgs", lr=None, init="content", lbfgs_history=args.lbfgs_history, seed=0,
                      **{f"{k}_weight": v for k, v in WEIGHTS.items()}, loss_normalisation="relative",
                      progress_bar=False, precision=args.precision[0], save_every=0, judge_weight=0.0),
        load_rgb(style_path, max_side=2 * args.size),
    )
    warm_up(features, fit_size(contents[0][1].size, args.size), device)
    record = {"benchmark": "stylize", "device": device_name(device), "size": args.size,
              "torch": torch.__version__, "product_lbfgs_history": args.lbfgs_history,
              "repeats": args.repeats}
    variants = {f"{p}, {k} per step": dataclasses.replace(cfg, settings=cfg.settings.model_copy(
                update={"precision": p}), per_step=k) for p in args.precision for k in args.iterations_per_step}
    for variant in variants.values():
        # The first Lightning fit in a process pays one-off costs (0.9 s on an H100; later fits 0.08 s)
        # that A and B do not: they run after the network warm-up above. Pay them outside the timer.
        product(variant, contents[:1], 3, device)
    if args.batch > 1:
        cfg = next(iter(variants.values()))
        batch = square[: args.batch]
        t_one, peak_one = product_with_peak(cfg, batch[:1], args.max_steps, device)
        t_all, peak_all = product_with_peak(cfg, batch, args.max_steps, device)
        record.update({"batch": len(batch), "steps": args.max_steps,
                       "peak_gpu_mib_one_image": peak_one, "peak_gpu_mib_batch": peak_all,
                       "seconds_one_image": round(t_one, 2), "seconds_batch": round(t_all, 2),
                       "images_per_second_batch": round(len(batch) / t_all, 4),
                       "images_per_second_one_at_a_time": round(1 / t_one, 4),
                       "throughput_ratio": round(len(batch) * t_one / t_all, 2)})
        write_result(f"stylize-batch{len(batch)}-{args.size}", record)
        return
    cache = OUT / "cache" / f"baseline-a-{device.type}-{args.size}-{args.baseline_steps}.json"
    record["A_reused"] = args.reuse_baselines and cache.is_file()
    net = WholeFeatures(features).to(device)
    content = to_tensor(contents[0][1], contents[0][1].size).unsqueeze(0).to(device)
    style = to_tensor(cfg.style, fit_size(cfg.style.size, args.size)).unsqueeze(0).to(device)  # the product's
    if args.reuse_baselines and cache.is_file():
        trace_a = json.loads(cache.read_text())
    else:
        trace_a = baseline_adam(net, content, style, args.baseline_steps)
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps(trace_a))
    target = trace_a[-1][1]
    traces_b, traces_p = [], {p: [] for p in variants}
    for _ in range(args.repeats):  # in turn, so that a busy minute hits every contender alike
        traces_b.append(baseline_lbfgs(net, content, style, args.max_steps))
        for p, variant in variants.items():
            traces_p[p].append(product(variant, contents[:1], args.max_steps, device))

    def best(traces):
        times = [time_to(trace, target) for trace in traces]
        return min((t for t in times if t is not None), default=None), times

    t_a, (t_b, all_b) = trace_a[-1][0], best(traces_b)
    trace_b = min(traces_b, key=lambda trace: trace[-1][0])  # the fastest run gives the per-evaluation figures
    record.update({
        "target_loss (A after N steps)": target, "baseline_steps": args.baseline_steps,
        "A_seconds": round(t_a, 2), "A_steps_per_second": round(len(trace_a) / t_a, 3),
        "B_seconds_to_target": None if t_b is None else round(t_b, 2), "B_all_seconds_to_target": all_b,
        "B_evals_per_second": round(len(trace_b) / trace_b[-1][0], 3),
        "B_first_eval_seconds": round(trace_b[0][0], 3), "B_evals_to_target": evaluations_to(trace_b, target),
        "B_final_loss": trace_b[-1][1], "speedup_B_vs_A": None if t_b is None else round(t_a / t_b, 2),
        "product_multiscale": cfg.settings.multiscale, "product_min_scale": cfg.settings.min_scale,
        "product_coarse_steps": cfg.settings.coarse_steps, "product": {},
    })
    for p, runs in traces_p.items():
        (trace_p, fp32_final), (t_p, all_p) = min(runs, key=lambda r: r[0][-1][0]), best([t for t, _ in runs])
        record["product"][p] = {
            "seconds_to_target": None if t_p is None else round(t_p, 2), "all_seconds_to_target": all_p,
            "first_eval_seconds": round(trace_p[0][0], 3), "evals_to_target": evaluations_to(trace_p, target),
            "evals_per_second": round(len(trace_p) / trace_p[-1][0], 3),
            "speedup_vs_A": None if t_p is None else round(t_a / t_p, 2),
            "speedup_vs_B": None if (t_p is None or t_b is None) else round(t_b / t_p, 2),
            "final_loss": trace_p[-1][1], "result_loss_fp32": fp32_final,
        }
    write_result(f"stylize-{args.size}", record)


if __name__ == "__main__":
    main()
