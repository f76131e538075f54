"""Named layers of AlexNet/VGG-19 ``features`` and an extractor cut after the deepest one needed."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from vangogh_lightning.config.schema import ConvPadding, Pooling
from vangogh_lightning.core.backbone_registry import BACKBONES
from vangogh_lightning.core.errors import UserError
from vangogh_lightning.models.backbones import IMAGENET_MEAN, IMAGENET_STD, build_features


def layer_names(backbone: str, features: nn.Sequential) -> list[str]:
    """Names for every module of ``features``: ``conv4_2``, ``relu3_1``, ``pool1`` for "block" backbones (VGG-19),
    ``conv1``, ``relu5``, ``pool3`` for "flat" ones (AlexNet), else class name and position (``fire3``)."""
    blocks = BACKBONES[backbone].layer_names == "block"
    names: list[str] = []
    block, conv, pool = 1, 0, 0
    for module in features:
        if isinstance(module, nn.Conv2d):
            conv += 1
            names.append(f"conv{block}_{conv}" if blocks else f"conv{conv}")
        elif isinstance(module, nn.ReLU):
            names.append(f"relu{block}_{conv}" if blocks else f"relu{conv}")
        elif isinstance(module, nn.MaxPool2d):
            pool += 1
            names.append(f"pool{block}" if blocks else f"pool{pool}")
            if blocks:
                block, conv = block + 1, 0
        else:
            names.append(f"{type(module).__name__.lower()}{len(names)}")
    return names


def buffers_only(module: nn.Module) -> nn.Module:
    """Turn every parameter into a buffer: the network moves with the module but never trains."""
    for sub in module.modules():
        for name, param in list(sub.named_parameters(recurse=False)):
            delattr(sub, name)
            sub.register_buffer(name, param.detach().clone())
    return module


class FeatureExtractor(nn.Module):
    """Frozen backbone ``features`` up to the deepest requested layer; returns named activations."""

    def __init__(self, backbone: str, layers: Iterable[str], pretrained: bool,
                 weights_path: str | None = None, pooling: Pooling = "max", border_padding: int = 0,
                 conv_padding: ConvPadding = "zeros"):
        super().__init__()
        self.border_padding = border_padding
        features = build_features(backbone, pretrained, weights_path, key="backbone.weights_path")
        names = layer_names(backbone, features)
        wanted = list(dict.fromkeys(layers))
        unknown = [name for name in wanted if name not in names]
        if unknown:
            valid = ", ".join(n for n in names if n.startswith(("conv", "relu")))
            raise UserError(f"unknown {backbone} layer(s) {', '.join(unknown)}; valid names: {valid}")
        depth = max(names.index(name) for name in wanted) + 1
        modules = []
        for i, module in enumerate(list(features)[:depth]):
            if isinstance(module, nn.ReLU):  # in place (no copy) unless it would overwrite a stored conv output
                module = nn.ReLU(inplace=names[i - 1] not in wanted)
            elif isinstance(module, nn.MaxPool2d) and pooling == "avg":
                module = nn.AvgPool2d(module.kernel_size, module.stride, module.padding)
            elif isinstance(module, nn.Conv2d) and conv_padding != "zeros":
                module.padding_mode = conv_padding  # each conv pads its input with its own edge cells
            modules.append(module)
        self.body = buffers_only(nn.Sequential(*modules).eval())
        self.names = names[:depth]
        self.wanted = set(wanted)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def train(self, mode: bool = True) -> FeatureExtractor:
        """Always stays in eval mode: the extractor is a fixed measuring instrument."""
        return super().train(False)

    @property
    def first_stride(self) -> int:
        """Stride of the first layer that downsamples (AlexNet's conv1: 4; VGG-19's pool1: 2)."""
        for module in self.body:
            stride = getattr(module, "stride", 1)
            stride = stride[0] if isinstance(stride, tuple) else stride
            if stride > 1:
                return int(stride)
        return 1

    @property
    def depth(self) -> int:
        """Number of backbone modules kept."""
        return len(self.body)

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        """Activations of the requested layers for an RGB batch in [0, 1]. ``border_padding`` mirrors the image
        out first, so the layers see picture, not zero padding, which grows a band along the edges (issue #23);
        the mirrored cells stay in the maps (cropping them away brought the band back)."""
        x = (image - self.mean) / self.std
        pad = min(self.border_padding, x.shape[-1] - 1, x.shape[-2] - 1)
        if pad > 0:
            x = nn.functional.pad(x, (pad, pad, pad, pad), mode="reflect")
        out: dict[str, torch.Tensor] = {}
        for name, module in zip(self.names, self.body):
            x = module(x)
            if name in self.wanted:
                out[name] = x
        return out
