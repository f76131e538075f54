"""torchvision backbones with ImageNet weights from the hub cache or a local file; which of their parts train."""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn
from torchvision import models

from vangogh_lightning.core.backbone_registry import BACKBONES as SPECS
from vangogh_lightning.core.errors import UserError
from vangogh_lightning.core.torch_files import load_state_problem, load_torch_file, require_file

# The normalisation torchvision's ImageNet weights were trained with (the same for every backbone).
_PRESET = models.AlexNet_Weights.IMAGENET1K_V1.transforms()
IMAGENET_MEAN, IMAGENET_STD = tuple(_PRESET.mean), tuple(_PRESET.std)


def torchvision_parts(name: str) -> tuple[Callable[..., nn.Module], models.WeightsEnum]:
    """The torchvision builder of a registered backbone and its ImageNet weights."""
    if name not in SPECS:
        raise UserError(f"backbone '{name}' is unknown; choose one of {', '.join(sorted(SPECS))}")
    return models.get_model_builder(name), models.get_model_weights(name).IMAGENET1K_V1


def weights_cache_path(name: str) -> Path:
    """Where torch.hub looks for the ImageNet weights of ``name``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(torchvision_parts(name)[1].url)


def _offline_help(name: str, key: str) -> str:
    cache = weights_cache_path(name)
    return (f"copy {cache.name} (from {torchvision_parts(name)[1].url}) into {cache.parent}/, "
            f"or set {key}=/path/to/{cache.name}, or use {key.rsplit('.', 1)[0]}.pretrained=false")


def load_imagenet_state(name: str, weights_path: str | None, key: str) -> dict[str, torch.Tensor]:
    """ImageNet state dict for ``name``: from ``weights_path``, the hub cache, or a download."""
    _, weights = torchvision_parts(name)
    if weights_path is not None:
        state = load_torch_file(weights_path, key, "weights file", hint=_offline_help(name, key))
        state = state.get("state_dict", state) if isinstance(state, dict) else state
        if not isinstance(state, dict):
            raise UserError(f"{key}={weights_path}: holds a {type(state).__name__}, not a state dict of weights; "
                            f"{_offline_help(name, key)}")
        return state
    try:
        # Uses the hub cache when the file is there; otherwise tries to download it.
        return torch.hub.load_state_dict_from_url(weights.url, progress=False, map_location="cpu",
                                                  weights_only=True)
    except (OSError, RuntimeError) as exc:
        raise UserError(f"could not get ImageNet weights for {name} ({type(exc).__name__}: {exc}); offline? "
                        f"{_offline_help(name, key)}") from None


def ensure_imagenet_weights(name: str, weights_path: str | None = None, key: str = "model.weights_path") -> None:
    """Fail now, not after the data is read, when ``name``'s ImageNet weights cannot be had: a missing
    ``weights_path``, or an empty hub cache where the download fails (offline)."""
    if weights_path is not None:
        require_file(weights_path, key, "weights file", _offline_help(name, key))
    elif not weights_cache_path(name).is_file():
        with contextlib.redirect_stderr(io.StringIO()):  # (torch's "Downloading: ..." line, before it fails offline)
            load_imagenet_state(name, None, key)  # downloads into the cache, or says how to supply the file


def _load_weights(module: nn.Module, name: str, weights_path: str | None, key: str, prefix: str = "") -> None:
    """Load the ImageNet weights under ``prefix`` into ``module``; a mismatch is one line naming the key."""
    state = load_imagenet_state(name, weights_path, key)
    try:
        module.load_state_dict({k.removeprefix(prefix): v for k, v in state.items() if k.startswith(prefix)})
    except RuntimeError as exc:
        first = load_state_problem(exc)
        raise UserError(f"{key}={weights_path}: weights do not fit {name} ({first})") from None


def build_backbone(name: str, pretrained: bool, weights_path: str | None = None) -> nn.Module:
    """A torchvision AlexNet/VGG-19, randomly initialised or with ImageNet weights."""
    net = torchvision_parts(name)[0](weights=None)
    if pretrained or weights_path is not None:
        _load_weights(net, name, weights_path, "model.weights_path")
    return net


def build_features(name: str, pretrained: bool, weights_path: str | None = None,
                   key: str = "backbone.weights_path") -> nn.Sequential:
    """Only the convolutional ``features`` of AlexNet/VGG-19 (what style transfer uses), initialised as
    torchvision does or loaded from the ``features.*`` part of the ImageNet state dict.

    The classifier is built on the meta device and never initialised: VGG-19's 120 M classifier
    parameters would cost seconds of random initialisation at every stylize start (bench/RESULTS.md)."""
    with torch.device("meta"):
        features = torchvision_parts(name)[0](weights=None).features
    features = features.to_empty(device="cpu")
    if pretrained or weights_path is not None:
        _load_weights(features, name, weights_path, key, prefix="features.")
        return features
    for module in features.modules():
        if isinstance(module, nn.Conv2d):
            if SPECS[name].init == "kaiming_fan_out":
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(module.bias)
            else:
                module.reset_parameters()
    return features


def one_logit_head(net: nn.Module) -> nn.Module:
    """``net`` with the last weighted layer of its ``classifier`` giving one output (AlexNet, VGG-19: the
    last Linear; SqueezeNet: its 1x1 convolution); an activation after it, which would clip the logit at
    0, is dropped."""
    layers = list(net.classifier)
    last = max(i for i, m in enumerate(layers) if next(m.parameters(recurse=False), None) is not None)
    old = layers[last]
    linear = isinstance(old, nn.Linear)
    net.classifier[last] = nn.Linear(old.in_features, 1) if linear else nn.Conv2d(old.in_channels, 1, old.kernel_size)
    for i in range(last + 1, len(layers)):
        if isinstance(layers[i], (nn.ReLU, nn.Softmax, nn.Sigmoid)):
            net.classifier[i] = nn.Identity()
    return net


def apply_freeze(net: nn.Module, trainable_feature_modules: int,
                 trainable_classifier_layers: int | None) -> None:
    """Freeze all but the trailing ``trainable_feature_modules`` of ``net.features`` and the last
    ``trainable_classifier_layers`` weighted layers of ``net.classifier`` (None: all of them)."""
    features = list(net.features)
    if not 0 <= trainable_feature_modules <= len(features):
        raise UserError(f"model.trainable_feature_modules={trainable_feature_modules}: must be 0..{len(features)} "
                        f"(this backbone's features has {len(features)} modules)")
    linears = [m for m in net.classifier if next(m.parameters(recurse=False), None) is not None]
    if trainable_classifier_layers is not None and not 1 <= trainable_classifier_layers <= len(linears):
        raise UserError(f"model.trainable_classifier_layers={trainable_classifier_layers}: must be 1..{len(linears)} "
                        "or null (whole classifier)")
    net.requires_grad_(False)
    train_linears = linears if trainable_classifier_layers is None else linears[-trainable_classifier_layers:]
    for module in [*features[len(features) - trainable_feature_modules:], *train_linears]:
        module.requires_grad_(True)
