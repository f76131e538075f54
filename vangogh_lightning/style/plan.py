"""Planning a stylize run: which contents and styles, where each output goes, which device and batch."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
from omegaconf import DictConfig
from PIL import Image

from vangogh_lightning.core.errors import UserError
from vangogh_lightning.core.images import expand_images, load_rgb, refuse_overwrite, unique_stems
from vangogh_lightning.style.image_ops import fit_size


@dataclass
class ContentItem:
    """One content image and where its outputs go."""

    path: Path
    image: Image.Image
    source_size: tuple[int, int]
    outputs: dict[str, Path]


def weighted_layers(names, weights, kind: str) -> dict[str, float]:
    """``{layer: weight}`` from the backbone's layer list and weight list (null weights = 1.0 each)."""
    names = [names] if isinstance(names, str) else list(names or [])
    if not names:
        raise UserError(f"backbone.{kind}_layers is empty; name at least one layer")
    weights = [1.0] * len(names) if weights is None else list(weights)
    if len(weights) != len(names):
        raise UserError(f"backbone.{kind}_layer_weights has {len(weights)} value(s) for {len(names)} layer(s) in "
                        f"backbone.{kind}_layers; give one weight per layer (or null)")
    return dict(zip(names, map(float, weights)))


# Peak GPU memory per pixel of one image (VGG-19, L-BFGS), rounded up from bench/RESULTS.md's measurement.
GPU_BYTES_PER_PIXEL = 4096
MAX_AUTO_BATCH = 8  # past 8 images a batch gained little on an H100 (bench/RESULTS.md)


def batch_size_for(setting: int | str, device: torch.device, pixels: int = 512 * 512,
                   free_bytes: int | None = None) -> int:
    """'auto': 1 on CPU (batching measured slower there); on CUDA as many images of ``pixels``
    pixels as half the free GPU memory holds, at most 8 (bench/RESULTS.md)."""
    if setting == "auto":
        if device.type != "cuda":
            return 1
        free_bytes = torch.cuda.mem_get_info(device)[0] if free_bytes is None else free_bytes
        return int(max(1, min(MAX_AUTO_BATCH, free_bytes // 2 // (GPU_BYTES_PER_PIXEL * pixels))))
    if isinstance(setting, bool) or not isinstance(setting, int) or setting < 1:
        raise UserError(f"batch_size={setting}: must be a positive integer or 'auto'")
    return setting


def resolve_styles(cfg: DictConfig) -> tuple[list[Path], list[float]]:
    """Style image paths and blend weights (normalised to sum 1)."""
    if cfg.style is None:
        default = Path(cfg.default_style)
        if not default.is_file():
            raise UserError(f"no style= given and the default Van Gogh painting {default} does not exist; "
                            "pass style=path/to/painting.jpg (or set paths.wikiart_dir)")
        paths = [default]
    else:
        paths = expand_images(cfg.style, what="style")
    weights = list(cfg.style_weights) if cfg.style_weights is not None else [1.0] * len(paths)
    if len(weights) != len(paths):
        raise UserError(f"style_weights has {len(weights)} value(s) but style gives {len(paths)} image(s); "
                        "give one weight per style image")
    total = sum(weights)
    if any(w < 0 for w in weights) or total <= 0:
        raise UserError(f"style_weights={weights}: must be non-negative with a positive sum")
    return paths, [w / total for w in weights]


def plan_outputs(contents: list[Path], out_dir: Path, backbone: str) -> list[dict[str, Path]]:
    """Output paths per content image, never two alike: a repeated stem gets the first free numeric suffix."""
    # plain strings: with_suffix would eat a dotted stem ("a.v2")
    return [{"image": out_dir / f"{stem}_{backbone}.png", "json": out_dir / f"{stem}_{backbone}.json",
             "sheet": out_dir / f"{stem}_{backbone}_sheet.png"} for stem in unique_stems(contents)]


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
    # below `need` px no crop helps (the long side is already `size`): only a larger size or image does
    advice = [f"crop it to an aspect ratio of at most {ratio}:1 (then size={size} works)"] if ratio >= 1 else []
    if min(w, h) >= need:
        advice.append(f"raise size= to at least {math.ceil(need * max(w, h) / min(w, h))}")
    else:
        advice.append(f"use an image at least {need} px on its short side")
    raise UserError(f"{path}: {w}x{h} px is too thin to stylize: at size={size} its short side would be {short_px} px, "
                    f"and {backbone} needs at least {need} px; {' or '.join(advice)}")


def load_contents(cfg: DictConfig, out_dir: Path) -> list[ContentItem]:
    """Every content image, validated and decoded at working size, with its planned outputs (refusing to
    overwrite earlier results unless ``overwrite=true``)."""
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
