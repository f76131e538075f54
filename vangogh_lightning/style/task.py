"""``stylize.py``: plan inputs and outputs from the (checked) config, run the engine, write the results."""

from __future__ import annotations

import json
import time
from collections import defaultdict
from pathlib import Path
from typing import Literal

import lightning as L
import torch
from omegaconf import DictConfig, OmegaConf

from vangogh_lightning.config.schema import StyleSettings, resolved
from vangogh_lightning.core.atomic import atomic_write_text
from vangogh_lightning.core.devices import pick_device
from vangogh_lightning.core.images import atomic_save, load_rgb
from vangogh_lightning.core.locks import LOCK_FILE, exclusive
from vangogh_lightning.core.progress import LogProgress, duration
from vangogh_lightning.models.checkpoints import load_classifier
from vangogh_lightning.style.engine import Backbone, Stylizer
from vangogh_lightning.style.image_ops import comparison_sheet, fit_size, preserve_colors, to_image, to_tensor
from vangogh_lightning.style.losses import JudgeLoss
from vangogh_lightning.style.plan import ContentItem, batch_size_for, load_contents, resolve_styles, weighted_layers
from vangogh_lightning.style.records import STYLIZED_RECORD_KIND


class StyleProgress(LogProgress):
    """train.py's log lines for stylize.py, where a fit is one scale of one batch of images: every ``every_s``
    seconds its step, speed, and how long the scale and (from the images finished) the whole run still take."""

    def __init__(self, images: int, every_s: float = 30.0, when: Literal["auto", "always", "never"] = "auto"):
        super().__init__(every_s, when)
        self.images_total, self.images_done, self.what, self.run_start = images, 0, "", time.monotonic()

    def run_left(self) -> str:
        if not 0 < self.images_done < self.images_total:
            return ""
        each = (time.monotonic() - self.run_start) / self.images_done
        return f" | run left about {duration(each * (self.images_total - self.images_done))}"

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        pass  # a scale's end: the image's own line follows

    def _print(self, trainer: L.Trainer, where: str) -> None:
        module = trainer.lightning_module  # its steps: L-BFGS iterations, several per Lightning step
        height, width = module.image.shape[-2:]
        done = module.done(trainer.global_step - 1)
        steps_per_s = done / max(time.monotonic() - self.start, 1e-9)
        print(f"[{self.what}] {width}x{height} px step {done}/{module.steps} | {steps_per_s:.2f} "
              f"steps/s | scale left <= {duration(self.fold_seconds_left(trainer))}{self.run_left()}", flush=True)


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
    styles = style_paths[0].name[:28] + (f" +{len(style_paths) - 1}" if len(style_paths) > 1 else "")
    captions = [f"content: {item.path.name[:28]}", f"style: {styles}", f"result: {styler.backbone.name}"]
    atomic_save(comparison_sheet([item.image, styler.styles[0], image], captions), item.outputs["sheet"])
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
        progress = StyleProgress(len(items), **(cfg.get("log_progress") or {}))
        styler = Stylizer(backbone, styles, style_mix, settings, device, callbacks=[progress], judge=judge)
        groups: dict[tuple[int, int], list[ContentItem]] = defaultdict(list)
        for item in items:
            groups[fit_size(item.image.size, cfg.size, cfg.square)].append(item)
        written = []
        for (width, height), group in groups.items():
            batch_size = batch_size_for(cfg.batch_size, device, width * height)
            for start in range(0, len(group), batch_size):
                batch = group[start:start + batch_size]
                more = f" +{len(batch) - 1}" if len(batch) > 1 else ""
                progress.what = f"{batch[0].path.name}{more}, image {len(written) + 1} of {len(items)}"
                t0 = time.perf_counter()
                result, module, scales = styler.run_batch(batch)
                seconds = (time.perf_counter() - t0) / len(batch)
                final = module.evaluate(result)
                size = tuple(reversed(result.shape[-2:]))
                reference = module.evaluate(torch.stack([to_tensor(it.image, size) for it in batch]))
                progress.images_done += len(batch)
                for i, item in enumerate(batch):
                    pick = {k: v[i] for k, v in final.items()}
                    ref = {k: v[i] for k, v in reference.items()}
                    write_outputs(cfg, item, result[i], pick, ref, styler, style_paths, scales, seconds)
                    written.append(item.outputs["image"])
                    print(f"{item.path} -> {item.outputs['image']} (total loss {pick['total']:.4g}) | image "
                          f"{len(written)} of {len(items)} in {duration(seconds)}{progress.run_left()}", flush=True)
        print(f"wrote {len(written)} image(s) to {out_dir}")
        return written
