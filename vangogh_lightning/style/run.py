"""The stylize job: expand inputs, batch same-size images, optimise coarse to fine, write outputs."""

from __future__ import annotations

import json
import logging
import math
import time
import warnings
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import torch
from omegaconf import DictConfig, OmegaConf
from PIL import Image

from vangogh_lightning.atomic import atomic_write_text
from vangogh_lightning.config_checks import STYLIZE_RULES, check_config, check_output_dir
from vangogh_lightning.errors import UserError
from vangogh_lightning.images import (
    atomic_save,
    expand_images,
    load_rgb,
    refuse_overwrite,
    set_max_pixels,
)
from vangogh_lightning.style import STYLIZED_RECORD_KIND
from vangogh_lightning.style.imaging import (
    comparison_sheet,
    fit_size,
    preserve_colors,
    scales_for,
    to_image,
    to_tensor,
)
from vangogh_lightning.style.layers import FeatureExtractor
from vangogh_lightning.style.losses import gram_matrix
from vangogh_lightning.style.module import INITS, StyleTransfer

log = logging.getLogger(__name__)



@dataclass
class ContentItem:
    """One content image and where its outputs go."""

    path: Path
    image: Image.Image
    source_size: tuple[int, int]
    outputs: dict[str, Path]


def pick_device(name: str) -> torch.device:
    """'auto' -> CUDA when available, else CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"device={name}: CUDA is not available here; use device=cpu or device=auto")
    return torch.device(name)


def weighted_layers(names, weights, kind: str) -> dict[str, float]:
    """``{layer: weight}`` from the backbone's layer list and weight list (null weights = 1.0 each)."""
    names = [names] if isinstance(names, str) else list(names or [])
    if not names:
        raise UserError(f"backbone.{kind}_layers is empty; name at least one layer")
    weights = [1.0] * len(names) if weights is None else list(weights)
    if len(weights) != len(names):
        raise UserError(
            f"backbone.{kind}_layer_weights has {len(weights)} value(s) for {len(names)} layer(s) in "
            f"backbone.{kind}_layers; give one weight per layer (or null)"
        )
    return dict(zip(names, map(float, weights)))


# Peak GPU memory per 512x512 image (VGG-19, L-BFGS) was ~935 MiB on an H100: ~3.7 kB per pixel.
GPU_BYTES_PER_PIXEL = 4096
MAX_AUTO_BATCH = 8  # H100, 512 px: batch 4 gave 2.9x the throughput of one at a time, batch 8 4.0-4.4x


def batch_size_for(setting: int | str, device: torch.device, pixels: int = 512 * 512,
                   free_bytes: int | None = None) -> int:
    """'auto': 1 on CPU (batching measured slower there); on CUDA as many images of ``pixels``
    pixels as half the free GPU memory holds, at most 8 (bench/RESULTS.md)."""
    if setting == "auto":
        if device.type != "cuda":
            return 1
        if free_bytes is None:
            free_bytes = torch.cuda.mem_get_info(device)[0]
        fits = free_bytes // 2 // (GPU_BYTES_PER_PIXEL * pixels)
        return int(max(1, min(MAX_AUTO_BATCH, fits)))
    if isinstance(setting, bool) or not isinstance(setting, int) or setting < 1:
        raise UserError(f"batch_size={setting}: must be a positive integer or 'auto'")
    return setting


def resolve_styles(cfg: DictConfig) -> tuple[list[Path], list[float]]:
    """Style image paths and blend weights (normalised to sum 1)."""
    if cfg.style is None:
        default = Path(cfg.default_style)
        if not default.is_file():
            raise UserError(
                f"no style= given and the default Van Gogh painting {default} does not exist; "
                "pass style=path/to/painting.jpg (or set paths.wikiart_dir)"
            )
        paths = [default]
    else:
        paths = expand_images(cfg.style, what="style")
    weights = list(cfg.style_weights) if cfg.style_weights is not None else [1.0] * len(paths)
    if len(weights) != len(paths):
        raise UserError(
            f"style_weights has {len(weights)} value(s) but style gives {len(paths)} image(s); "
            "give one weight per style image"
        )
    if any(w < 0 for w in weights) or sum(weights) <= 0:
        raise UserError(f"style_weights={weights}: must be non-negative with a positive sum")
    total = sum(weights)
    return paths, [w / total for w in weights]


def plan_outputs(contents: list[Path], out_dir: Path, backbone: str) -> list[dict[str, Path]]:
    """Output paths per content image, never two alike: a repeated stem (``d1/x.jpg``, ``d2/x.jpg``,
    ``x.png``) gets the first free numeric suffix, also past inputs already named ``x-2``."""
    taken = {path.stem.casefold() for path in contents}
    used: set[str] = set()
    plans = []
    for path in contents:
        stem, n = path.stem, 1
        while stem.casefold() in used or (n > 1 and stem.casefold() in taken):
            n += 1
            stem = f"{path.stem}-{n}"
        used.add(stem.casefold())
        base = f"{stem}_{backbone}"  # a plain string: with_suffix would eat a dotted stem ("a.v2")
        plans.append({
            "image": out_dir / f"{base}.png",
            "json": out_dir / f"{base}.json",
            "sheet": out_dir / f"{base}_sheet.png",
        })
    return plans


def initial_image(kind: str, content: torch.Tensor, style: Image.Image, seed: int) -> torch.Tensor:
    """Starting pixels: the content, the (resized) style image, or seeded uniform noise."""
    if kind == "content":
        return content.clone()
    if kind == "style":
        h, w = content.shape[-2:]
        return to_tensor(style, (w, h)).expand_as(content).clone()
    if kind == "noise":
        gen = torch.Generator().manual_seed(seed)
        return torch.rand(content.shape, generator=gen)
    raise UserError(f"init={kind}: choose one of {', '.join(INITS)}")


class _Snapshots(L.Callback):
    """Save the current images every ``every`` steps."""

    def __init__(self, every: int, items: list[ContentItem], scale: int):
        self.every, self.items, self.scale = every, items, scale

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        step = trainer.global_step
        if step % self.every:
            return
        for item, img in zip(self.items, module.image.detach()):
            target = item.outputs["image"]
            name = f"{target.stem}_s{self.scale}_step{step:05d}.png"
            atomic_save(to_image(img), target.parent / "steps" / name)


class Stylizer:
    """Holds the extractor and the style targets; stylizes batches of content images."""

    def __init__(self, cfg: DictConfig, device: torch.device):
        self.cfg = cfg
        self.device = device
        bb = cfg.backbone
        self.content_layers = weighted_layers(bb.content_layers, bb.content_layer_weights, "content")
        self.style_layers = weighted_layers(bb.style_layers, bb.style_layer_weights, "style")
        # The style images first: a bad file is reported before any network is built.
        self.style_paths, self.style_mix = resolve_styles(cfg)
        self.styles = [load_rgb(p, max_side=2 * cfg.size) for p in self.style_paths]
        self.extractor = FeatureExtractor(
            bb.name, [*self.content_layers, *self.style_layers], bb.pretrained, bb.weights_path,
            bb.pooling,
        ).to(device)
        self._grams: dict[int, dict[str, torch.Tensor]] = {}

    def style_grams(self, scale: int) -> dict[str, torch.Tensor]:
        """Blended Gram targets of the style image(s) at working size ``scale``."""
        if scale not in self._grams:
            blended: dict[str, torch.Tensor] = {}
            for image, weight in zip(self.styles, self.style_mix):
                tensor = to_tensor(image, fit_size(image.size, scale, self.cfg.square)).unsqueeze(0).to(self.device)
                with torch.no_grad():
                    feats = self.extractor(tensor)
                for name in self.style_layers:
                    gram = gram_matrix(feats[name]) * weight
                    blended[name] = blended[name] + gram if name in blended else gram
            self._grams[scale] = blended
        return self._grams[scale]

    def _fit(self, module: StyleTransfer, steps: int, callbacks: list[L.Callback]) -> None:
        accelerator = "gpu" if self.device.type == "cuda" else "cpu"
        trainer = L.Trainer(
            max_epochs=1, max_steps=steps, accelerator=accelerator, devices=1,
            logger=False, enable_checkpointing=False, enable_model_summary=False,
            enable_progress_bar=bool(self.cfg.progress_bar), callbacks=callbacks,
            precision=self.cfg.precision,
        )
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*module\\(s\\) in eval mode.*")
            trainer.fit(module)

    def run_batch(self, items: list[ContentItem]) -> tuple[torch.Tensor, StyleTransfer, list[int]]:
        """Stylize images that share one working size; returns (images, last module, scales)."""
        cfg = self.cfg
        scales = scales_for(cfg.size, cfg.multiscale, cfg.min_scale)
        # Coarse scales at which a narrow image would be too thin are skipped (the final one is checked).
        need = MIN_SHORT_SIDE
        scales = [s for s in scales[:-1] if short_side_at(items[0].image.size, s, cfg.square) >= need] + scales[-1:]
        result: torch.Tensor | None = None
        module: StyleTransfer | None = None
        for scale in scales:
            size = fit_size(items[0].image.size, scale, cfg.square)
            content = torch.stack([to_tensor(it.image, size) for it in items]).to(self.device)
            if result is None:
                init = initial_image(cfg.init, content.cpu(), self.styles[0], cfg.seed).to(self.device)
            else:
                init = torch.nn.functional.interpolate(result, size=content.shape[-2:], mode="bicubic",
                                                       align_corners=False).clamp(0, 1)
            steps = cfg.steps if scale == scales[-1] or cfg.coarse_steps is None else cfg.coarse_steps
            try:
                module = StyleTransfer(
                    self.extractor, content, self.style_grams(scale), self.content_layers,
                    self.style_layers, init, steps, cfg.content_weight, cfg.style_weight,
                    cfg.tv_weight, cfg.optimizer, cfg.lr, cfg.lbfgs_history, cfg.loss_normalisation,
                )
            except RuntimeError as exc:
                if "size" not in str(exc).lower():
                    raise
                raise UserError(
                    f"{items[0].path}: {size[0]}x{size[1]} px is too small for the layers of "
                    f"{cfg.backbone.name}; raise size= ({exc})"
                ) from None
            snaps = [_Snapshots(cfg.save_every, items, scale)] if cfg.save_every else []
            self._fit(module, steps, snaps)
            result = module.result()
        assert module is not None and result is not None
        return result, module, scales


# Shortest side a working image needs: below ~31 px AlexNet's second pooling has no input left,
# and VGG-19's conv4 layers would see a single position.
MIN_SHORT_SIDE = 32


def short_side_at(size: tuple[int, int], longest: int, square: bool = False) -> int:
    """Short side of an image of ``size`` scaled to ``longest`` px on its long side."""
    return min(fit_size(size, longest, square))


def check_not_too_thin(path: Path, source: tuple[int, int], size: int, backbone: str) -> None:
    """Refuse strips whose short side would be too small at ``size``, with advice that works."""
    need = MIN_SHORT_SIDE
    short_px = short_side_at(source, size)
    if short_px >= need:
        return
    w, h = source
    ratio = size // need
    advice = [f"crop it to an aspect ratio of at most {ratio}:1 (then size={size} works)"]
    if min(w, h) >= need:
        advice.append(f"or raise size= to at least {math.ceil(need * max(w, h) / min(w, h))}")
    else:
        advice.append(f"or use an image at least {need} px on its short side")
    raise UserError(
        f"{path}: {w}x{h} px is too thin to stylize: at size={size} its short side would be {short_px} px, "
        f"and {backbone} needs at least {need} px; {' '.join(advice)}"
    )


def _load_contents(cfg: DictConfig, out_dir: Path) -> list[ContentItem]:
    paths = expand_images(cfg.content, what="content")
    plans = plan_outputs(paths, out_dir, cfg.backbone.name)
    refuse_overwrite([p for plan in plans for p in plan.values()], cfg.overwrite)
    items = []
    for path, plan in zip(paths, plans):
        image = load_rgb(path, max_side=cfg.size)  # validates the file first
        with Image.open(path) as probe:
            source_size = probe.size
        if not cfg.square:  # squashed to size x size, nothing is too thin
            check_not_too_thin(path, source_size, cfg.size, cfg.backbone.name)
        if max(source_size) > cfg.size:
            print(f"note: {path} is {source_size[0]}x{source_size[1]}; working at "
                  f"{image.width}x{image.height} (size={cfg.size})")
        items.append(ContentItem(path, image, source_size, plan))
    return items


def _write_outputs(cfg: DictConfig, item: ContentItem, result: torch.Tensor, losses: dict,
                   content_losses: dict, styler: Stylizer, scales: list[int], seconds: float) -> None:
    image = to_image(result)
    if cfg.preserve_colors:
        image = preserve_colors(image, item.image)
    atomic_save(image, item.outputs["image"])
    atomic_save(comparison_sheet([item.image, styler.styles[0], image]), item.outputs["sheet"])
    record = {
        "kind": STYLIZED_RECORD_KIND,  # how evaluate.py tells results from sheets and snapshots
        "image": item.outputs["image"].name,
        "content": str(item.path),
        "style": [str(p) for p in styler.style_paths],
        "style_mix": styler.style_mix,
        "backbone": cfg.backbone.name,
        "source_size": list(item.source_size),
        "output_size": [image.width, image.height],
        "scales": scales,
        "final_losses": losses,
        "content_image_losses": content_losses,
        "seconds": round(seconds, 3),
        "config": OmegaConf.to_container(cfg, resolve=True),
    }
    atomic_write_text(json.dumps(record, indent=2), item.outputs["json"])


def stylize(cfg: DictConfig) -> list[Path]:
    """Stylize every content image; return the written PNG paths."""
    if cfg.content is None:
        raise UserError("content is not set; pass content=photo.jpg (a file, folder or glob)")
    check_config(cfg, STYLIZE_RULES)
    set_max_pixels(cfg.max_image_pixels)
    out_dir = check_output_dir(cfg.out_dir, "out_dir")
    L.seed_everything(cfg.seed, verbose=False)
    items = _load_contents(cfg, out_dir)
    device = pick_device(cfg.device)
    styler = Stylizer(cfg, device)
    groups: dict[tuple[int, int], list[ContentItem]] = defaultdict(list)
    for item in items:
        groups[fit_size(item.image.size, cfg.size, cfg.square)].append(item)
    written = []
    for (width, height), group in groups.items():
        batch_size = batch_size_for(cfg.batch_size, device, width * height)
        for start in range(0, len(group), batch_size):
            batch = group[start:start + batch_size]
            t0 = time.perf_counter()
            result, module, scales = styler.run_batch(batch)
            seconds = (time.perf_counter() - t0) / len(batch)
            final = module.evaluate(result)
            reference = module.evaluate(
                torch.stack([to_tensor(it.image, tuple(reversed(result.shape[-2:]))) for it in batch])
            )
            for i, item in enumerate(batch):
                pick = {k: v[i] for k, v in final.items()}
                ref = {k: v[i] for k, v in reference.items()}
                _write_outputs(cfg, item, result[i], pick, ref, styler, scales, seconds)
                written.append(item.outputs["image"])
                print(f"{item.path} -> {item.outputs['image']} (total loss {pick['total']:.4g})")
    print(f"wrote {len(written)} image(s) to {out_dir}")
    return written
