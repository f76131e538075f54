"""Every backbone the product knows, and every fact about it, in one torch-free place.

The config schema, the classifier, the style extractor, Table 1 and the study read these entries; none of
them names a backbone. Adding one (any torchvision model with ``features`` and ``classifier``) is one
:func:`register` call plus its ``conf/model/<name>.yaml`` and ``conf/backbone/<name>.yaml``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import AfterValidator
from pydantic_core import PydanticCustomError


@dataclass(frozen=True)
class BackboneSpec:
    """What the product needs to know about one torchvision backbone."""

    name: str  # torchvision's model name (``torchvision.models.get_model_builder(name)``)
    title: str  # as the report writes it
    # The smallest square input its features accept; equals torchvision's ``weights.meta["min_size"]``.
    min_size: int
    # Layer names: "block" gives VGG's conv{block}_{i} / relu{block}_{i} / pool{block};
    # "flat" gives AlexNet's conv{i} / relu{i} / pool{i}.
    layer_names: Literal["block", "flat"] = "flat"
    # Random initialisation of ``features`` when no ImageNet weights are loaded: "kaiming_fan_out" as
    # torchvision's VGG (normal, fan-out, zero bias), "default" for PyTorch's own.
    init: Literal["kaiming_fan_out", "default"] = "default"
    # The layer whose maps Grad-CAM explains; None: the last ReLU of ``features``.
    evidence_layer: str | None = None


BACKBONES: dict[str, BackboneSpec] = {}  # in Table 1's order (the report's: VGG19 first)


def register(spec: BackboneSpec) -> None:
    """Make ``spec`` a backbone every script accepts (after the built-in ones in Table 1's order)."""
    BACKBONES[spec.name] = spec


register(BackboneSpec("vgg19", "VGG19", min_size=32, layer_names="block", init="kaiming_fan_out"))
register(BackboneSpec("alexnet", "AlexNet", min_size=63))


def backbone_names() -> tuple[str, ...]:
    """Every known backbone, in Table 1's order."""
    return tuple(BACKBONES)


def title_of(name: str) -> str:
    """The backbone's name as tables and pages write it."""
    return BACKBONES[name].title


def _known(name: str) -> str:
    if name not in BACKBONES:
        expected = " or ".join(repr(n) for n in sorted(BACKBONES))
        raise PydanticCustomError("literal_error", "Input should be {expected}", {"expected": expected})
    return name


# A config value naming a backbone: checked against the registry when the config is validated, with
# the same message a ``Literal`` of the names would give.
BackboneName = Annotated[str, AfterValidator(_known)]
