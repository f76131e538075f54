"""A third backbone is one registry entry and its two config files: it trains a fold, stylizes and judges
in Table 1 with no other change (here SqueezeNet 1.1, random weights, registered for this test only)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import torch
from PIL import Image

from tests.conftest import TINY_TRAIN, compose_cfg, run_script
from vangogh_lightning.core.backbone_registry import BACKBONES, BackboneSpec, backbone_names
from vangogh_lightning.models.classifier import VanGoghClassifier

NAME = "squeezenet1_1"
MODEL_YAML = f"""\
defaults:
  - alexnet
  - _self_
backbone: {NAME}
"""
BACKBONE_YAML = f"""\
name: {NAME}
pretrained: true
weights_path: null
pooling: max
content_layers: [fire7]
content_layer_weights: null
style_layers: [relu1, fire3, fire4]
style_layer_weights: null
border_padding: 0
conv_padding: zeros
"""


@pytest.fixture
def squeezenet(monkeypatch, tmp_path) -> str:
    """SqueezeNet registered, and its config files in a folder Hydra searches: the override that adds it."""
    monkeypatch.setitem(BACKBONES, NAME, BackboneSpec(NAME, "SqueezeNet", min_size=17))
    conf = tmp_path / "conf"
    for group, text in (("model", MODEL_YAML), ("backbone", BACKBONE_YAML)):
        (conf / group).mkdir(parents=True)
        (conf / group / f"{NAME}.yaml").write_text(text)
    return f"hydra.searchpath=[file://{conf}]"


def _random_judge(path: Path, backbone: str) -> Path:
    torch.manual_seed(0)
    model = VanGoghClassifier(backbone=backbone, pretrained=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": model.state_dict(), "hyper_parameters": dict(model.hparams),
                "datamodule_hyper_parameters": {"image_size": 64}}, path)
    return path


@pytest.mark.e2e
def test_a_registered_backbone_trains_stylizes_and_judges_in_table_1(squeezenet, tmp_path, shared_data, capsys):
    assert backbone_names() == ("vgg19", "alexnet", NAME)
    # a fold, as train.py runs it
    run = tmp_path / "train"
    assert run_script("train.py", squeezenet, f"model={NAME}", *TINY_TRAIN, "data.num_folds=2", "fold=0",
                      "trainer.max_epochs=1", f"hydra.run.dir={run}") == 0
    summary = json.loads((run / "fold_0" / "summary.json").read_text())
    assert summary["backbone"] == NAME
    judge = run / "fold_0" / "checkpoints" / "best.ckpt"
    # a stylization, as stylize.py runs it (and one with each built-in backbone: Table 1 has a column each)
    photo = shared_data / "photos" / "photo-00.jpg"
    starry = shared_data / "paintings" / "vincent-van-gogh_the-starry-night-1889.jpg"
    stylized = {b: tmp_path / "stylized" / b for b in backbone_names()}
    for backbone, folder in stylized.items():
        assert run_script("stylize.py", squeezenet, f"backbone={backbone}", f"content={photo}", f"style={starry}",
                          "backbone.pretrained=false", "size=64", "steps=2", "progress_bar=false", f"out_dir={folder}",
                          f"hydra.run.dir={folder}_run") == 0
    assert (stylized[NAME] / f"photo-00_{NAME}.png").is_file()
    # Table 1 with three judges, the new one among them
    judges = {NAME: judge, **{b: _random_judge(tmp_path / "judges" / f"{b}.ckpt", b) for b in ("vgg19", "alexnet")}}
    table = tmp_path / "table"
    assert run_script("evaluate.py", squeezenet, "task=deception", "device=cpu", "task.batch_size=4",
                      *[f"+task.classifiers.{b}={p}" if b == NAME else f"task.classifiers.{b}={p}"
                        for b, p in judges.items()],
                      *[f"{'+' if b == NAME else ''}task.stylized.{b}={p}" for b, p in stylized.items()],
                      f"+task.targeted.{NAME}=null",
                      f"+task.evidence_layers.{NAME}=null", "task.controls=false", "task.fold_judges=false",
                      "task.evidence=false", f"out_dir={table}", f"hydra.run.dir={table}") == 0, capsys.readouterr().err
    rates = pd.read_csv(table / "deception.csv")
    assert list(dict.fromkeys(rates["condition"]))[:4] == ["VGG19 identified as Van Gogh",
                                                         "AlexNet identified as Van Gogh",
                                                         "SqueezeNet identified as Van Gogh", "All models agreed"]
    verdicts = pd.read_csv(table / "verdicts.csv")
    assert len(verdicts) == 3 and {f"p_{b}" for b in judges} <= set(verdicts.columns)


def test_the_config_refuses_a_backbone_nobody_registered(squeezenet, tmp_path):
    from vangogh_lightning.config.schema import check_config
    from vangogh_lightning.core.errors import UserError

    content = tmp_path / "photo.png"
    Image.new("RGB", (64, 64)).save(content)
    cfg = compose_cfg("stylize", [squeezenet, f"backbone={NAME}", f"content={content}", f"style={content}"], tmp_path)
    with pytest.MonkeyPatch.context() as mp:
        mp.delitem(BACKBONES, NAME)
        with pytest.raises(UserError, match=f"backbone.name={NAME}: must be 'alexnet' or 'vgg19'"):
            check_config(cfg, "stylize")
