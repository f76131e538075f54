"""Writing a stylize result: the image, its comparison sheet and the JSON record evaluate.py reads."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from vangogh_lightning.core.atomic import atomic_write_text
from vangogh_lightning.core.images import atomic_save
from vangogh_lightning.style.engine import Stylizer
from vangogh_lightning.style.image_ops import comparison_sheet, preserve_colors, to_image
from vangogh_lightning.style.plan import ContentItem
from vangogh_lightning.style.records import STYLIZED_RECORD_KIND


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
