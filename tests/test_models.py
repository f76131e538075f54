"""Backbones, ImageNet weights offline, freeze depth and the classifier's head and metrics."""

from __future__ import annotations

import urllib.error

import pytest
import torch
from torchvision import models

from vangogh_lightning.core.errors import UserError
from vangogh_lightning.models.backbones import build_backbone, weights_cache_path
from vangogh_lightning.models.classifier import VanGoghClassifier, make_metrics


@pytest.fixture
def hub_dir(tmp_path, monkeypatch):
    """An empty torch hub cache, with downloads failing as they do offline."""
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))

    def offline(url, dst, *a, **kw):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    return tmp_path / "hub"


def test_pretrained_without_cached_weights_fails_fast_saying_how_to_supply_them(hub_dir):
    with pytest.raises(UserError) as err:
        VanGoghClassifier(backbone="alexnet", pretrained=True)
    msg = str(err.value)
    assert "alexnet-owt-7be5be79.pth" in msg and str(hub_dir / "checkpoints") in msg
    assert "model.weights_path=" in msg and "pretrained=false" in msg
    assert "\n" not in msg


def test_pretrained_loads_weights_from_the_hub_cache_without_downloading(hub_dir):
    reference = models.alexnet(weights=None)
    cache = weights_cache_path("alexnet")
    cache.parent.mkdir(parents=True)
    torch.save(reference.state_dict(), cache)
    net = build_backbone("alexnet", pretrained=True)
    assert torch.equal(net.features[0].weight, reference.features[0].weight)


def test_local_weights_file_is_used_and_a_bad_one_is_named(tmp_path, hub_dir):
    reference = models.alexnet(weights=None)
    good = tmp_path / "alexnet.pth"
    torch.save(reference.state_dict(), good)
    net = build_backbone("alexnet", pretrained=True, weights_path=str(good))
    assert torch.equal(net.classifier[1].weight, reference.classifier[1].weight)
    with pytest.raises(UserError, match="model.weights_path=.*nope.pth: weights file not found"):
        build_backbone("alexnet", pretrained=True, weights_path=str(tmp_path / "nope.pth"))
    torch.save(models.vgg19(weights=None).state_dict(), tmp_path / "vgg.pth")
    with pytest.raises(UserError, match="do not fit alexnet"):
        build_backbone("alexnet", pretrained=False, weights_path=str(tmp_path / "vgg.pth"))
    for not_weights in (torch.zeros(3), [reference.state_dict()]):  # a tensor, a list: no state dict
        torch.save(not_weights, tmp_path / "other.pth")
        with pytest.raises(UserError, match=r"other.pth: holds a (Tensor|list), not a state dict of weights"):
            build_backbone("alexnet", pretrained=True, weights_path=str(tmp_path / "other.pth"))


def test_unknown_backbone_lists_the_known_ones():
    with pytest.raises(UserError, match="backbone 'resnet50' is unknown; choose one of alexnet, vgg19"):
        VanGoghClassifier(backbone="resnet50", pretrained=False)


@pytest.mark.parametrize("backbone", ["alexnet", "vgg19"])
def test_head_is_one_logit_and_default_freeze_trains_last_six_feature_modules(backbone):
    model = VanGoghClassifier(backbone=backbone, pretrained=False)
    features = list(model.net.features)
    trains = [any(p.requires_grad for p in m.parameters()) for m in features]
    has_params = [bool(list(m.parameters())) for m in features]
    n = len(features)
    assert not any(t for t, hp in zip(trains[: n - 6], has_params[: n - 6]) if hp)
    assert all(t for t, hp in zip(trains[n - 6:], has_params[n - 6:]) if hp)
    assert all(p.requires_grad for p in model.net.classifier.parameters())
    assert model.net.classifier[-1].out_features == 1
    out = model(torch.randn(2, 3, 64, 64))
    assert out.shape == (2,)


def test_freeze_depth_is_configurable_and_counted():
    full = VanGoghClassifier(backbone="alexnet", pretrained=False, trainable_feature_modules=13)
    head_only = VanGoghClassifier(backbone="alexnet", pretrained=False, trainable_feature_modules=0,
                                  trainable_classifier_layers=1)
    assert full.trainable_params == full.total_params
    assert head_only.trainable_params == 4096 + 1
    with pytest.raises(UserError, match="trainable_feature_modules=99: must be 0..13"):
        VanGoghClassifier(backbone="alexnet", pretrained=False, trainable_feature_modules=99)


def test_balanced_accuracy_is_the_mean_of_class_recalls():
    metrics = make_metrics(0.5)
    probs = torch.tensor([0.9, 0.8, 0.2, 0.1, 0.7, 0.6])
    target = torch.tensor([1, 1, 1, 0, 0, 0])
    out = metrics(probs, target)
    assert out["bal_acc"].item() == pytest.approx((2 / 3 + 1 / 3) / 2)
    assert out["acc"].item() == pytest.approx(3 / 6)


def test_loss_is_bce_with_logits_on_raw_logits():
    model = VanGoghClassifier(backbone="alexnet", pretrained=False, pos_weight=3.0)
    model.setup("fit")
    logits = torch.tensor([2.0, -1.0])
    target = torch.tensor([1.0, 0.0])
    expected = torch.nn.functional.binary_cross_entropy_with_logits(
        logits, target, pos_weight=torch.tensor(3.0))
    assert model.loss_fn(logits, target).item() == pytest.approx(expected.item())


def test_the_registry_states_each_backbones_torchvision_facts():
    from torchvision import models

    from vangogh_lightning.core.backbone_registry import BACKBONES, backbone_names

    assert backbone_names() == ("vgg19", "alexnet")  # Table 1's order, as the report's
    for name, entry in BACKBONES.items():
        meta = models.get_model_weights(name).IMAGENET1K_V1.meta
        assert meta["min_size"] == (entry.min_size, entry.min_size), name
        net = models.get_model_builder(name)(weights=None)
        assert hasattr(net, "features") and hasattr(net, "classifier"), name


def test_a_checkpoint_whose_weights_do_not_fit_names_the_first_tensor(tmp_path, hub_dir):
    from vangogh_lightning.models.checkpoints import load_classifier
    from vangogh_lightning.models.classifier import VanGoghClassifier

    model = VanGoghClassifier(backbone="alexnet", pretrained=False)
    state = model.state_dict()
    state["net.classifier.6.weight"] = torch.zeros(2, 4096)  # a two-class head where one logit belongs
    torch.save({"state_dict": state, "hyper_parameters": dict(model.hparams)}, tmp_path / "two.ckpt")
    with pytest.raises(UserError, match=r"two.ckpt: weights do not fit the model \(size mismatch for net.classifier"
                                        r".6.weight: copying a param with shape torch.Size\(\[2, 4096\]\)"):
        load_classifier(tmp_path / "two.ckpt")
    torch.save(models.vgg19(weights=None).state_dict(), tmp_path / "vgg.pth")
    with pytest.raises(UserError, match=r"vgg.pth: weights do not fit alexnet \((Missing|Unexpected) key\(s\) in "
                                        r"state_dict: \"features.\d+.weight\""):
        build_backbone("alexnet", pretrained=False, weights_path=str(tmp_path / "vgg.pth"))
