"""Stylization aimed at a judge: ``judge=<classifier.ckpt> judge_weight=w`` adds -log P(Van Gogh) by that
frozen classifier to the loss. At 0 nothing changes; above 0 the judge's P(Van Gogh) rises; the
classifier itself never changes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from tests.conftest import compose_cfg
from vangogh_lightning.config.entry import run_task
from vangogh_lightning.models.checkpoints import load_classifier
from vangogh_lightning.models.classifier import VanGoghClassifier
from vangogh_lightning.style.losses import JudgeLoss
from vangogh_lightning.style.task import stylize

STARRY = "paintings/vincent-van-gogh_the-starry-night-1889.jpg"


@pytest.fixture(scope="module")
def judge_ckpt(tmp_path_factory) -> Path:
    torch.manual_seed(3)
    model = VanGoghClassifier(backbone="alexnet", pretrained=False)
    with torch.no_grad():  # a decisive head: a random network's logit otherwise hardly depends on the image
        model.net.classifier[-1].weight.mul_(-100)
    path = tmp_path_factory.mktemp("judge") / "alexnet.ckpt"
    torch.save({"state_dict": model.state_dict(), "hyper_parameters": dict(model.hparams),
                "datamodule_hyper_parameters": {"image_size": 64}}, path)
    return path


def run(tmp_path: Path, shared: Path, name: str, *extra: str) -> tuple[dict, bytes]:
    out = tmp_path / name
    cfg = compose_cfg("stylize", [f"content={shared / 'photos' / 'photo-03.jpg'}", f"style={shared / STARRY}",
                                  "backbone=alexnet", "backbone.pretrained=false", "size=64", "steps=15",
                                  "progress_bar=false", f"out_dir={out}", *extra], out)
    stylize(cfg)
    return json.loads((out / "photo-03_alexnet.json").read_text()), (out / "photo-03_alexnet.png").read_bytes()


def judged(checkpoint: Path, png: bytes, tmp_path: Path) -> float:
    """P(Van Gogh) of a saved result by the judge, read back from the PNG as evaluate.py would."""
    from vangogh_lightning.evaluation.scoring import predict_files

    path = tmp_path / "judged.png"
    path.write_bytes(png)
    model, size = load_classifier(checkpoint)
    return predict_files(model, [path], size)[0]


@pytest.mark.e2e
def test_a_judge_weight_of_zero_changes_nothing_and_a_positive_one_raises_the_judges_p(judge_ckpt, tmp_path,
                                                                                     shared_data):
    before = hashlib.sha256(judge_ckpt.read_bytes()).hexdigest()
    plain, plain_png = run(tmp_path, shared_data, "plain")
    zero, zero_png = run(tmp_path, shared_data, "zero", f"judge={judge_ckpt}", "judge_weight=0")
    aimed, aimed_png = run(tmp_path, shared_data, "aimed", f"judge={judge_ckpt}", "judge_weight=1000")
    assert zero_png == plain_png and zero["final_losses"] == plain["final_losses"]  # bit-identical
    assert "judge" not in zero and aimed["judge"]["backbone"] == "alexnet" and aimed["judge"]["weight"] == 1000
    p_plain, p_aimed = judged(judge_ckpt, plain_png, tmp_path), judged(judge_ckpt, aimed_png, tmp_path)
    assert p_aimed > p_plain + 0.05, (p_plain, p_aimed)
    assert aimed["judge"]["p_van_gogh"] == pytest.approx(p_aimed, abs=0.05)  # in-graph transform ~ evaluate's
    assert hashlib.sha256(judge_ckpt.read_bytes()).hexdigest() == before   # the classifier is untouched


def test_the_judge_is_a_frozen_copy_and_the_pixels_stay_the_only_parameters(judge_ckpt):
    from vangogh_lightning.style.layers import FeatureExtractor
    from vangogh_lightning.style.losses import gram_matrix
    from vangogh_lightning.style.module import StyleTransfer

    model, size = load_classifier(judge_ckpt)
    judge = JudgeLoss(model, size)
    reference = {k: v.clone() for k, v in model.net.state_dict().items()}
    extractor = FeatureExtractor("alexnet", ["conv4", "conv1"], pretrained=False)
    image = torch.rand(1, 3, 64, 80)
    module = StyleTransfer(extractor, image, {"conv1": gram_matrix(extractor(image)["conv1"])}, {"conv4": 1.0},
                           {"conv1": 1.0}, image, 5, judge=judge, judge_weight=3.0)
    assert [name for name, _ in module.named_parameters()] == ["image"]
    total = module.losses(module.image)["total"].sum()
    total.backward()
    assert module.image.grad is not None and module.image.grad.abs().sum() > 0
    assert all(torch.equal(reference[k], v) for k, v in judge.net.state_dict().items())
    assert all(torch.equal(reference[k], v) for k, v in model.net.state_dict().items())


def test_the_judges_view_is_its_validation_transform(judge_ckpt):
    from vangogh_lightning.data.transforms import eval_transform

    model, size = load_classifier(judge_ckpt)
    judge = JudgeLoss(model, size)
    picture = Image.fromarray((torch.rand(90, 120, 3) * 255).byte().numpy())
    pixels = torch.from_numpy(__import__("numpy").asarray(picture)).permute(2, 0, 1).float().div(255)
    mine, theirs = judge.view(pixels.unsqueeze(0))[0], eval_transform(size)(picture)
    assert mine.shape == theirs.shape == (3, 64, 64)
    assert (mine - theirs).abs().mean() < 0.05  # same geometry; tensor vs PIL resampling differ slightly


def test_calls_from_python_refuse_a_weight_without_a_judge(tmp_path, shared_data, capsys):
    cfg = compose_cfg("stylize", [f"content={shared_data / 'photos' / 'photo-03.jpg'}", "judge_weight=0.5"], tmp_path)
    with pytest.raises(SystemExit):
        run_task(stylize, cfg, "stylize")
    assert capsys.readouterr().err.startswith("error: judge_weight=0.5: there is no judge")
