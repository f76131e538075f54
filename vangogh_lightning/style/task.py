"""``stylize.py``: plan inputs and outputs from the (checked) config, run the engine, write the results."""

from __future__ import annotations

import time
from collections import defaultdict
from pathlib import Path

import lightning as L
import torch
from omegaconf import DictConfig

from vangogh_lightning.config.schema import StyleSettings, resolved
from vangogh_lightning.core.devices import pick_device
from vangogh_lightning.core.images import load_rgb
from vangogh_lightning.core.locks import LOCK_FILE, exclusive
from vangogh_lightning.models.checkpoints import load_classifier
from vangogh_lightning.style.engine import Backbone, Stylizer
from vangogh_lightning.style.image_ops import fit_size, to_tensor
from vangogh_lightning.style.judge import JudgeLoss
from vangogh_lightning.style.outputs import write_outputs
from vangogh_lightning.style.plan import ContentItem, batch_size_for, load_contents, resolve_styles, weighted_layers


def backbone_from_config(cfg: DictConfig) -> Backbone:
    """The ``backbone`` group as the engine's explicit backbone description."""
    bb = cfg.backbone
    return Backbone(bb.name, weighted_layers(bb.content_layers, bb.content_layer_weights, "content"),
                    weighted_layers(bb.style_layers, bb.style_layer_weights, "style"), bb.pretrained,
                    bb.weights_path, bb.pooling, bb.border_padding, bb.conv_padding)


def settings_from_config(cfg: DictConfig) -> StyleSettings:
    """The engine's settings: the config keys of the same names."""
    return StyleSettings.model_validate(resolved(cfg))


def judge_from_config(cfg: DictConfig) -> JudgeLoss | None:
    """The classifier the images are aimed at (``judge``, loaded weights-only), when ``judge_weight`` > 0."""
    if cfg.get("judge") is None or cfg.judge_weight == 0:
        return None
    model, size = load_classifier(cfg.judge, key="judge")
    return JudgeLoss(model, size)


def stylize(cfg: DictConfig) -> list[Path]:
    """Stylize every content image; return the written PNG paths (one writer at a time per ``out_dir``)."""
    with exclusive(cfg.out_dir, LOCK_FILE, "stylize.py"):
        return _stylize(cfg)


def _stylize(cfg: DictConfig) -> list[Path]:
    out_dir = Path(cfg.out_dir).expanduser()
    L.seed_everything(cfg.seed, verbose=False)
    items = load_contents(cfg, out_dir)
    device = pick_device(cfg.device)
    backbone = backbone_from_config(cfg)
    # The style images before the network: a bad file is reported before anything is built.
    style_paths, style_mix = resolve_styles(cfg)
    styles = [load_rgb(p, max_side=2 * cfg.size) for p in style_paths]
    styler = Stylizer(backbone, styles, style_mix, settings_from_config(cfg), device, judge=judge_from_config(cfg))
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
                write_outputs(cfg, item, result[i], pick, ref, styler, style_paths, scales, seconds)
                written.append(item.outputs["image"])
                print(f"{item.path} -> {item.outputs['image']} (total loss {pick['total']:.4g})")
    print(f"wrote {len(written)} image(s) to {out_dir}")
    return written
