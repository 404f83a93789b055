"""torchvision backbones truncated before pooling, with honest weight loading.

Weights come from torchvision's ImageNet release when it can be fetched (or is already in the
torch hub cache), from a local file the user names, or nowhere (random init) — always logged.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
import torchvision
from torch import nn

from core.errors import ConfigError

log = logging.getLogger(__name__)

# name -> (torchvision constructor, feature channels of the last stage)
_BACKBONES = {
    "resnet18": (torchvision.models.resnet18, 512),
    "resnet34": (torchvision.models.resnet34, 512),
    "resnet50": (torchvision.models.resnet50, 2048),
    "resnet101": (torchvision.models.resnet101, 2048),
    "efficientnet_b0": (torchvision.models.efficientnet_b0, 1280),
    "efficientnet_b1": (torchvision.models.efficientnet_b1, 1280),
    "efficientnet_b2": (torchvision.models.efficientnet_b2, 1408),
}
BACKBONE_STRIDE = 32


def build_backbone(name: str, pretrained: str = "none") -> tuple[nn.Module, int, bool]:
    """A feature extractor ``(B, 3, H, W) -> (B, C, H/32, W/32)``, its channel count C, and whether
    pretrained weights were loaded.

    Args:
        name: one of ``core.config.BACKBONES``.
        pretrained: ``"imagenet"``, ``"none"`` or a path to a state-dict file (a torchvision
            classification checkpoint or a ``{"state_dict": ...}`` checkpoint).
    """
    if name not in _BACKBONES:
        raise ConfigError(f"unknown backbone {name!r}; choose one of {sorted(_BACKBONES)}")
    constructor, channels = _BACKBONES[name]
    net = constructor(weights=None)
    if pretrained == "imagenet":
        loaded = _load_imagenet(net, name)
    elif pretrained not in ("none", ""):
        loaded = _load_file(net, Path(pretrained))
    else:
        loaded = False
        log.info("backbone %s: random initialisation (pretrained: none)", name)
    features = nn.Sequential(*list(net.children())[:-2]) if name.startswith("resnet") else net.features
    return features, channels, loaded


def _load_imagenet(net: nn.Module, name: str) -> bool:
    weights = torchvision.models.get_model_weights(name).DEFAULT
    try:
        state = weights.get_state_dict(progress=False)
    except Exception as e:  # no network, proxy refusal, corrupt cache ...
        log.warning(
            "backbone %s: could not load ImageNet weights (%s); training from random initialisation. "
            "To use pretrained weights offline, set `pretrained` to a local weights file.",
            name,
            e,
        )
        return False
    net.load_state_dict(state)
    log.info("backbone %s: ImageNet weights %s", name, weights)
    return True


def _load_file(net: nn.Module, path: Path) -> bool:
    if not path.is_file():
        raise ConfigError(f"pretrained weights file not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise ConfigError(f"cannot read weights file {path}: {e}") from None
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    if not isinstance(state, dict) or not set(state) & set(net.state_dict()):
        raise ConfigError(
            f"weights file {path} shares no parameter names with the backbone; "
            "expected a torchvision checkpoint of the same architecture"
        )
    missing, unexpected = net.load_state_dict(state, strict=False)
    head_only = all(k.startswith(("fc.", "classifier.")) for k in missing)
    if missing and not head_only:
        raise ConfigError(f"weights file {path} lacks {len(missing)} backbone parameters, e.g. {missing[:3]}")
    log.info(
        "backbone: weights loaded from %s (%d tensors, %d ignored)",
        path,
        len(state) - len(unexpected),
        len(unexpected),
    )
    return True
