"""Load a trained classifier checkpoint with clear errors."""

from __future__ import annotations

from pathlib import Path

import torch

from vangogh_lightning.errors import UserError
from vangogh_lightning.models.classifier import VanGoghClassifier


def load_classifier(path: str | Path, key: str = "checkpoint",
                    expect_backbone: str | None = None) -> tuple[VanGoghClassifier, int]:
    """(model in eval mode, training image size) from a Lightning checkpoint of train.py."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{key}={path}: checkpoint not found")
    try:
        raw = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means a bad file
        raise UserError(f"{key}={path}: not a readable checkpoint ({type(exc).__name__})") from None
    hparams = raw.get("hyper_parameters", {}) if isinstance(raw, dict) else {}
    if "backbone" not in hparams or "state_dict" not in raw:
        raise UserError(f"{key}={path}: not a vangogh-lightning classifier checkpoint (from train.py)")
    if expect_backbone is not None and hparams["backbone"] != expect_backbone:
        raise UserError(
            f"{key}={path}: holds a {hparams['backbone']} classifier, expected {expect_backbone}"
        )
    # The checkpoint carries all weights: never fetch ImageNet weights again.
    model = VanGoghClassifier(**{**hparams, "pretrained": False, "weights_path": None})
    try:
        model.load_state_dict(raw["state_dict"])
    except RuntimeError as exc:
        raise UserError(f"{key}={path}: weights do not fit the model ({str(exc).splitlines()[0]})") from None
    model.eval()
    size = raw.get("datamodule_hyper_parameters", {}).get("image_size", 224)
    return model, int(size)
