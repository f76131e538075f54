"""``stylize.py``: plan inputs and outputs from the (checked) config, run the engine, write the results."""

from __future__ import annotations

import json
import time
from collections import defaultdict
from pathlib import Path

import lightning as L
import torch
from omegaconf import DictConfig, OmegaConf

from vangogh_lightning.config.schema import StyleSettings, resolved
from vangogh_lightning.core.atomic import atomic_write_text
from vangogh_lightning.core.devices import pick_device
from vangogh_lightning.core.images import atomic_save, load_rgb
from vangogh_lightning.core.locks import LOCK_FILE, exclusive
from vangogh_lightning.models.checkpoints import load_classifier
from vangogh_lightning.style.engine import Backbone, Stylizer
from vangogh_lightning.style.image_ops import comparison_sheet, fit_size, preserve_colors, to_image, to_tensor
from vangogh_lightning.style.losses import JudgeLoss
from vangogh_lightning.style.plan import ContentItem, batch_size_for, load_contents, resolve_styles, weighted_layers
from vangogh_lightning.style.records import STYLIZED_RECORD_KIND


def backbone_from_config(cfg: DictConfig) -> Backbone:
    """The ``backbone`` group as the engine's explicit backbone description."""
    bb = cfg.backbone
    return Backbone(bb.name, weighted_layers(bb.content_layers, bb.content_layer_weights, "content"),
                    weighted_layers(bb.style_layers, bb.style_layer_weights, "style"), bb.pretrained,
                    bb.weights_path, bb.pooling, bb.border_padding, bb.conv_padding)


def settings_from_config(cfg: DictConfig) -> StyleSettings:
    """The engine's settings: the config keys of the same names."""
    return StyleSettings.model_validate(resolved(cfg))


def write_outputs(cfg: DictConfig, item: ContentItem, result: torch.Tensor, losses: dict, content_losses: dict,
                  styler: Stylizer, style_paths: list[Path], scales: list[int], seconds: float) -> None:
    """Write the result image, the content | style | result sheet, then the record (last: it marks the
    result as finished, for evaluate.py and for a study that resumes)."""
    image = to_image(result)
    if cfg.preserve_colors:
        image = preserve_colors(image, item.image)
    atomic_save(image, item.outputs["image"])
    atomic_save(comparison_sheet([item.image, styler.styles[0], image]), item.outputs["sheet"])
    record = {
        "kind": STYLIZED_RECORD_KIND,  # how evaluate.py tells results from sheets and snapshots
        "image": item.outputs["image"].name,
        "content": str(item.path),
        "style": [str(p) for p in style_paths],
        "style_mix": styler.style_mix,
        "backbone": styler.backbone.name,
        "source_size": list(item.source_size),
        "output_size": [image.width, image.height],
        "scales": scales,
        "final_losses": losses,
        "content_image_losses": content_losses,
        "seconds": round(seconds, 3),
        "config": OmegaConf.to_container(cfg, resolve=True),
    }
    if styler.judge is not None:  # aimed at a classifier: which one, and what it now says
        record["judge"] = {"checkpoint": str(cfg.judge), "backbone": styler.judge.backbone,
                           "weight": cfg.judge_weight,
                           "p_van_gogh": float(styler.judge.p_van_gogh(result.unsqueeze(0).to(styler.device)))}
    atomic_write_text(json.dumps(record, indent=2), item.outputs["json"])


def stylize(cfg: DictConfig) -> list[Path]:
    """Stylize every content image; return the written PNG paths (one writer at a time per ``out_dir``)."""
    with exclusive(cfg.out_dir, LOCK_FILE, "stylize.py"):
        out_dir = Path(cfg.out_dir).expanduser()
        L.seed_everything(cfg.seed, verbose=False)
        items = load_contents(cfg, out_dir)
        device = pick_device(cfg.device)
        backbone = backbone_from_config(cfg)
        # The style images before the network: a bad file is reported before anything is built.
        style_paths, style_mix = resolve_styles(cfg)
        styles = [load_rgb(p, max_side=2 * cfg.size) for p in style_paths]
        settings = settings_from_config(cfg)
        # The classifier the images are aimed at (judge, loaded weights-only), when judge_weight > 0.
        judge = JudgeLoss(*load_classifier(cfg.judge, key="judge")) if cfg.get("judge") and cfg.judge_weight else None
        styler = Stylizer(backbone, styles, style_mix, settings, device, judge=judge)
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
                size = tuple(reversed(result.shape[-2:]))
                reference = module.evaluate(torch.stack([to_tensor(it.image, size) for it in batch]))
                for i, item in enumerate(batch):
                    pick = {k: v[i] for k, v in final.items()}
                    ref = {k: v[i] for k, v in reference.items()}
                    write_outputs(cfg, item, result[i], pick, ref, styler, style_paths, scales, seconds)
                    written.append(item.outputs["image"])
                    print(f"{item.path} -> {item.outputs['image']} (total loss {pick['total']:.4g})")
        print(f"wrote {len(written)} image(s) to {out_dir}")
        return written
