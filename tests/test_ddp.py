"""DDP on CPU (gloo, 2 processes): validation metrics count every sample exactly once."""

from __future__ import annotations

import lightning as L
import pytest
import torch

from vangogh_lightning.data.datamodule import VanGoghDataModule
from vangogh_lightning.models.classifier import VanGoghClassifier


def validate(devices: int, strategy: str = "auto") -> dict[str, float]:
    torch.manual_seed(0)
    model = VanGoghClassifier(backbone="alexnet", pretrained=False)
    # 51 images, 5 folds: fold 0 validates on 11 - odd, so a padding sampler would repeat one
    dm = VanGoghDataModule(source="synthetic", synthetic_count=51, image_size=64, batch_size=4,
                           num_workers=0, num_folds=5, fold=0)
    trainer = L.Trainer(accelerator="cpu", devices=devices, strategy=strategy, logger=False,
                        enable_progress_bar=False, enable_model_summary=False)
    (metrics,) = trainer.validate(model, datamodule=dm, verbose=False)
    return metrics


@pytest.mark.e2e
def test_two_process_validation_equals_single_process():
    single = validate(1)
    ddp = validate(2, "ddp_spawn")
    assert set(single) == {"val/loss", "val/auroc", "val/f1", "val/acc", "val/bal_acc"}
    for name, value in single.items():
        assert ddp[name] == pytest.approx(value, abs=1e-5), name
