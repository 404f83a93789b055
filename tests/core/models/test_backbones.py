import logging
import urllib.error

import pytest
import torch
import torchvision

from core.config import BACKBONES
from core.errors import ConfigError
from core.models.backbones import build_backbone
from core.models.heatmap_net import HeatmapNet


def _made_weights(name: str, seed: int) -> dict:
    torch.manual_seed(seed)
    return getattr(torchvision.models, name)(weights=None).state_dict()


def _same(features: torch.nn.Module, state: dict, prefix_map: dict[str, str]) -> bool:
    mine = features.state_dict()
    return all(
        torch.equal(mine[k], state[prefix_map.get(k.split(".")[0], k.split(".")[0]) + k[k.index(".") :]])
        for k in mine
    )


RESNET_PREFIX = {"0": "conv1", "1": "bn1", "4": "layer1", "5": "layer2", "6": "layer3", "7": "layer4"}


def test_local_weights_file_is_loaded(tmp_path):
    state = _made_weights("resnet18", seed=3)
    path = tmp_path / "r18.pth"
    torch.save(state, path)
    features, channels, loaded = build_backbone("resnet18", str(path))
    assert loaded and channels == 512
    assert _same(features, state, RESNET_PREFIX)


def test_imagenet_weights_come_from_the_torch_hub_cache(tmp_path, monkeypatch):
    state = _made_weights("resnet18", seed=5)
    weights = torchvision.models.ResNet18_Weights.DEFAULT
    cache = tmp_path / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    torch.save(state, cache / weights.url.rsplit("/", 1)[1])
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    features, _, loaded = build_backbone("resnet18", "imagenet")
    assert loaded
    assert _same(features, state, RESNET_PREFIX)


def test_unreachable_imagenet_weights_fall_back_to_random_init_and_say_so(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # an empty cache, so the weights would be fetched

    def unreachable(url: str, *args, **kwargs) -> None:  # the fetch fails, online or not
        raise urllib.error.URLError(f"no route to {url}")

    monkeypatch.setattr(torch.hub, "download_url_to_file", unreachable)
    with caplog.at_level(logging.WARNING):
        _, _, loaded = build_backbone("resnet18", "imagenet")
    assert not loaded
    assert "random initialisation" in caplog.text and "no route to https://" in caplog.text


def test_bad_weights_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        build_backbone("resnet18", str(tmp_path / "nope.pth"))
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(ConfigError, match="cannot read"):
        build_backbone("resnet18", str(junk))
    other = tmp_path / "effnet.pth"
    torch.save(_made_weights("efficientnet_b0", 0), other)
    with pytest.raises(ConfigError, match="shares no parameter"):
        build_backbone("resnet18", str(other))


@pytest.mark.parametrize("name", BACKBONES)
def test_every_backbone_gives_quarter_resolution_heatmaps(name):
    net = HeatmapNet(name, out_channels=5).eval()
    with torch.no_grad():
        (out,) = net(torch.randn(1, 3, 64, 96))
    assert out.shape == (1, 5, 16, 24)
