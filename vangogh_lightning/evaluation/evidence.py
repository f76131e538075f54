"""Why a judge says "Van Gogh": Grad-CAM maps (captum's ``LayerGradCam``) of the Van Gogh logit at a layer
of the backbone's features (default: its last ReLU), over the image the classifier saw. The study page reads
the index and figure layout too: torch is imported only where a map is computed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from matplotlib import colormaps
from PIL import Image, ImageDraw

from vangogh_lightning.core.atomic import atomic_write_text
from vangogh_lightning.core.backbone_registry import title_of
from vangogh_lightning.core.errors import UserError
from vangogh_lightning.core.images import atomic_save, unique_stems
from vangogh_lightning.evaluation.scoring import ImageFiles

if TYPE_CHECKING:
    import torch
    from torch import nn

    from vangogh_lightning.models.classifier import VanGoghClassifier

EVIDENCE_INDEX = "evidence.csv"  # in the evidence folder: image, judge, layer, p_van_gogh, file
PANEL = 224  # px per panel of a figure: image | overlay
CAPTION = 30  # px of caption under the panels


def evidence_layer(model: VanGoghClassifier, name: str | None,
                   key: str = "task.evidence_layer") -> tuple[str, nn.Module]:
    """The named module of the classifier's ``features`` (None: its last ReLU), or an error listing the valid ones."""
    from vangogh_lightning.style.layers import layer_names

    backbone = model.hparams.backbone
    names = layer_names(backbone, model.net.features)
    if name is None:
        name = [n for n in names if n.startswith("relu")][-1]
    if name not in names:
        valid = ", ".join(n for n in names if n.startswith(("conv", "relu", "pool")))
        raise UserError(f"{key}={name}: not a layer of {backbone}; valid names: {valid}")
    return name, model.net.features[names.index(name)]


def evidence_maps(model: VanGoghClassifier, images: torch.Tensor, layer: nn.Module) -> torch.Tensor:
    """Grad-CAM of the Van Gogh logit for a batch of normalised images: (B, H, W), the input's size,
    non-negative (only evidence *for* Van Gogh), each map scaled to a maximum of 1 (all zero: none)."""
    import torch
    from captum.attr import LayerAttribution, LayerGradCam

    model = model.eval()
    images = images.detach().clone().requires_grad_(True)  # the layer's output needs a graph even if all is frozen
    # An in-place ReLU would overwrite the activation captum's hook holds (torchvision's are in place).
    relus = [m for m in model.modules() if isinstance(m, torch.nn.ReLU) and m.inplace]
    for relu in relus:
        relu.inplace = False
    try:
        with torch.enable_grad():
            attributions = LayerGradCam(model, layer).attribute(images, relu_attributions=True)
    finally:
        for relu in relus:
            relu.inplace = True
    maps = LayerAttribution.interpolate(attributions, tuple(images.shape[-2:]), interpolate_mode="bilinear")
    maps = maps.squeeze(1).clamp_min(0).detach()
    peak = maps.flatten(1).amax(1).clamp_min(1e-12).view(-1, 1, 1)
    return maps / peak


def shown_image(normalised: torch.Tensor) -> Image.Image:
    """The RGB image a classifier saw, from its normalised input (3, H, W)."""
    import torch

    from vangogh_lightning.models.backbones import IMAGENET_MEAN, IMAGENET_STD

    mean, std = torch.tensor(IMAGENET_MEAN).view(3, 1, 1), torch.tensor(IMAGENET_STD).view(3, 1, 1)
    pixels = (normalised.detach().cpu() * std + mean).clamp(0, 1)
    return Image.fromarray((pixels.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8), "RGB")


def overlay(image: Image.Image, heat: torch.Tensor, alpha: float = 0.5) -> Image.Image:
    """The map in a colour scale over the image (strong evidence: bright, none: the image itself)."""
    colours = colormaps["inferno"](heat.cpu().numpy())[..., :3]
    weight = alpha * heat.cpu().numpy()[..., None]
    mixed = np.asarray(image, dtype=np.float64) / 255 * (1 - weight) + colours * weight
    return Image.fromarray((mixed * 255).round().astype(np.uint8), "RGB")


@dataclass
class Evidence:
    """One image's map by one judge."""

    image: Path
    judge: str
    layer: str
    p_van_gogh: float
    shown: Image.Image
    heat: torch.Tensor

    def figure(self, title: str = "") -> Image.Image:
        """image | overlay, captioned with P(Van Gogh), the judge and the layer."""
        sheet = Image.new("RGB", (2 * PANEL, PANEL + CAPTION), "white")
        for i, panel in enumerate((self.shown, overlay(self.shown, self.heat))):
            sheet.paste(panel.resize((PANEL, PANEL)), (i * PANEL, 0))
        draw = ImageDraw.Draw(sheet)
        draw.text((4, PANEL + 2), (title or self.image.name)[:60], fill="black")
        none = "" if float(self.heat.max()) > 0 else "; no evidence for Van Gogh here"
        draw.text((4, PANEL + 15), f"{title_of(self.judge)} ({self.layer}): P(Van Gogh) = "
                  f"{self.p_van_gogh:.2f}{none}", fill="darkred" if self.p_van_gogh >= 0.5 else "black")
        return sheet


def explain_files(model: VanGoghClassifier, image_size: int, paths: Sequence[Path], layer_name: str | None,
                  device: str = "cpu", batch_size: int = 8, key: str = "task.evidence_layer") -> list[Evidence]:
    """The evidence of ``model`` for each image file (decoded and transformed as for classification)."""
    import torch
    from torch.utils.data import DataLoader

    from vangogh_lightning.core.devices import pick_device

    name, layer = evidence_layer(model, layer_name, key)
    target = pick_device(device)
    model = model.to(target)
    found = []
    for i, batch in enumerate(DataLoader(ImageFiles(paths, image_size), batch_size=batch_size)):  # as classify
        batch = batch.to(target)
        heat = evidence_maps(model, batch, layer)
        with torch.no_grad():
            probs = model.predict_proba(batch).float().cpu().tolist()
        found += [Evidence(Path(p), model.hparams.backbone, name, prob, shown_image(x), h.cpu())
                  for p, prob, x, h in zip(paths[i * batch_size:], probs, batch, heat)]
    return found


def grid(figures: Sequence[Image.Image], path: Path, columns: int = 3) -> Path:
    """Figures side by side, ``columns`` to a row."""
    width, height = figures[0].size
    rows = -(-len(figures) // columns)
    sheet = Image.new("RGB", (min(columns, len(figures)) * width, rows * height), "white")
    for i, figure in enumerate(figures):
        sheet.paste(figure, ((i % columns) * width, (i // columns) * height))
    return atomic_save(sheet, path)


def save_evidence(found: Sequence[Evidence], folder: Path, titles: Sequence[str] | None = None,
                  groups: dict[str, tuple[list[Evidence], list[str]]] | None = None) -> int:
    """``<folder>/<image>_<judge>.png`` for each map and ``grid_<judge>.png`` per judge, a two-column
    ``<name>.png`` of each of ``groups`` (name: its maps and their captions), and the index
    (:data:`EVIDENCE_INDEX`) with a row per map; returns the number of rows."""
    files = []  # (map, the file it is in)
    by_judge: dict[str, list[Image.Image]] = {}
    images = list(dict.fromkeys(e.image for e in found))
    stems = dict(zip(images, unique_stems(images)))
    for i, item in enumerate(found):
        figure = item.figure(titles[i] if titles else "")
        files.append((item, atomic_save(figure, folder / f"{stems[item.image]}_{item.judge}.png").name))
        by_judge.setdefault(item.judge, []).append(figure)
    for judge, figures in by_judge.items():
        grid(figures, folder / f"grid_{judge}.png")
    for name, (maps, captions) in (groups or {}).items():
        grid([e.figure(t) for e, t in zip(maps, captions)], folder / f"{name}.png", columns=2)
        files += [(e, f"{name}.png") for e in maps]
    index = pd.DataFrame([{"image": str(e.image), "judge": e.judge, "layer": e.layer, "p_van_gogh": e.p_van_gogh,
                           "file": file} for e, file in files])
    atomic_write_text(index.to_csv(index=False), folder / EVIDENCE_INDEX)
    return len(index)


def out_of_fold_examples(oof: pd.DataFrame, top_k: int) -> dict[str, pd.DataFrame]:
    """The ``top_k`` Van Gogh paintings the folds were surest of, and the ``top_k`` other painters'
    works they most took for Van Gogh (highest out-of-fold P(Van Gogh) first)."""
    ranked = oof.sort_values("p_van_gogh", ascending=False, kind="stable")
    return {"van_gogh": ranked[ranked["label"] == 1].head(top_k), "others": ranked[ranked["label"] == 0].head(top_k)}


def explain_out_of_fold(examples: pd.DataFrame, checkpoints: dict[int, Path], judge: str, layer_name: str | None,
                        device: str, key: str) -> tuple[list[Evidence], list[str], list[str]]:
    """Each example's map by the fold classifier that never trained on it, its caption, and notes on the rest."""
    from vangogh_lightning.models.checkpoints import load_classifier

    found, titles, notes = [], [], []
    if not examples["path"].map(lambda p: isinstance(p, str)).any():
        return [], [], [f"evidence: the {judge} judge's out-of-fold examples are generated images (no files); no maps"]
    for fold, rows in examples.groupby("fold", sort=False):
        if int(fold) not in checkpoints:
            notes.append(f"evidence: fold {fold} of the {judge} judge has no checkpoint; {len(rows)} out-of-fold "
                         "example(s) without a map")
            continue
        on_disk = rows["path"].map(lambda p: isinstance(p, str) and Path(p).is_file())
        notes += [f"evidence: {p} is gone; no map" for p in rows.loc[~on_disk, "path"] if isinstance(p, str)]
        if not on_disk.any():
            continue
        rows = rows[on_disk]
        model, size = load_classifier(checkpoints[int(fold)], key=f"fold {fold} of the {judge} judge",
                                      expect_backbone=judge)
        found += explain_files(model, size, [Path(p) for p in rows["path"]], layer_name, device, key=key)
        titles += [f"{row.artist} (fold {row.fold})" for row in rows.itertuples()]
        del model
    order = sorted(range(len(found)), key=lambda i: -found[i].p_van_gogh)  # surest first, across folds
    return [found[i] for i in order], [titles[i] for i in order], notes
