"""Load a trained classifier checkpoint with clear errors."""

from __future__ import annotations

from pathlib import Path

from vangogh_lightning.errors import UserError
from vangogh_lightning.models.classifier import VanGoghClassifier
from vangogh_lightning.torch_files import load_torch_file


def load_classifier(path: str | Path, key: str = "checkpoint",
                    expect_backbone: str | None = None) -> tuple[VanGoghClassifier, int]:
    """(model in eval mode, training image size) from a Lightning checkpoint of train.py."""
    raw = load_torch_file(path, key, "checkpoint", weights_only=False)
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
