"""A trained classifier from a checkpoint of train.py, read safely, with one-line errors."""

from __future__ import annotations

from pathlib import Path

import lightning as L

from vangogh_lightning.core.errors import UserError
from vangogh_lightning.core.torch_files import first_non_finite, load_state_problem, load_torch_file
from vangogh_lightning.data.record import record_in
from vangogh_lightning.models.classifier import VanGoghClassifier


def load_classifier(path: str | Path, key: str = "checkpoint",
                    expect_backbone: str | None = None) -> tuple[VanGoghClassifier, int]:
    """(model in eval mode, training image size) from a Lightning checkpoint of train.py; ``model.origin`` says
    whether it started from ImageNet weights, its data source and its data record.

    Built as ``load_from_checkpoint`` builds it, without random initialisation, from one safe read of the
    file: ``load_from_checkpoint`` would read it a second time after these checks (0.5 GB for VGG-19) and
    refuses files without Lightning's version stamp (a state dict and hyper-parameters saved by other code)."""
    raw = load_torch_file(path, key, "checkpoint")
    hparams = raw.get("hyper_parameters", {}) if isinstance(raw, dict) else {}
    if "backbone" not in hparams or "state_dict" not in raw:
        raise UserError(f"{key}={path}: not a vangogh-lightning classifier checkpoint (from train.py)")
    if expect_backbone is not None and hparams["backbone"] != expect_backbone:
        raise UserError(f"{key}={path}: holds a {hparams['backbone']} classifier, expected {expect_backbone}")
    if (bad := first_non_finite(raw["state_dict"])) is not None:
        raise UserError(f"{key}={path}: the weight {bad} is not finite (the fit that wrote it diverged); "
                        "retrain with a lower model.lr or use another fold's checkpoint")
    with L.Fabric(accelerator="cpu", devices=1).init_module(empty_init=True):
        model = VanGoghClassifier(**{**hparams, "pretrained": False, "weights_path": None})
    try:
        model.load_state_dict(raw["state_dict"])
    except RuntimeError as exc:
        raise UserError(f"{key}={path}: weights do not fit the model ({load_state_problem(exc)})") from None
    data = raw.get("datamodule_hyper_parameters", {})
    # what it was made from: ImageNet or random weights, which data (and the record of its files and splits)
    model.origin = {"pretrained": bool(hparams.get("pretrained")), "source": data.get("source"),
                    "record": record_in(raw)}
    return model.eval(), int(data.get("image_size", 224))
