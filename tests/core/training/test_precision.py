"""Which arithmetic a training runs in: bf16 on a GPU; on a CPU as ``cpu_precision`` says, ``auto``
by the CPU's instructions; and Adam's fused steps."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch

from core.config import TrainConfig, load_project
from core.cpu import cpu_has_bf16
from core.training.module import PoseModule
from core.training.precision import trainer_precision
from tests.testdata import EXAMPLE_PROJECT

ZEN4 = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_bf16 avx512_vnni\n"
ZEN2 = "processor\t: 0\nflags\t\t: fpu sse2 avx2\n"


@pytest.mark.parametrize(("cpuinfo", "has"), [(ZEN4, True), (ZEN2, False), ("", False)])
def test_bf16_instructions_are_read_from_the_cpu_flags(tmp_path: Path, cpuinfo: str, has: bool) -> None:
    path = tmp_path / "cpuinfo"
    path.write_text(cpuinfo)
    assert cpu_has_bf16(path) is has
    assert cpu_has_bf16(tmp_path / "missing") is False


@pytest.mark.parametrize(
    ("setting", "bf16_cpu", "expected"),
    [
        ("32", True, "32-true"),
        ("bf16", False, "bf16-mixed"),
        ("auto", True, "bf16-mixed"),
        ("auto", False, "32-true"),
    ],
)
def test_a_cpu_trains_as_asked_and_auto_follows_the_instructions(
    monkeypatch, setting: str, bf16_cpu: bool, expected: str
) -> None:
    monkeypatch.setattr("core.training.precision.cpu_has_bf16", lambda: bf16_cpu)
    assert trainer_precision(TrainConfig(cpu_precision=setting), torch.device("cpu")) == expected
    assert trainer_precision(TrainConfig(cpu_precision=setting), torch.device("cuda")) == "bf16-mixed"


def test_adam_is_fused_and_steps_as_step_by_step_adam_does() -> None:
    """Fused Adam: one pass per parameter, about 20x faster on 2 CPU cores, the same updates (also
    for the channels-last weights, whose gradients autograd lays out as the weights)."""
    module = PoseModule(load_project(EXAMPLE_PROJECT), TrainConfig(backbone="resnet18", pretrained="none"))
    fused = module.configure_optimizers()["optimizer"]
    assert fused.defaults["fused"] is True
    stepwise_network = copy.deepcopy(module.network)
    stepwise = torch.optim.Adam(stepwise_network.parameters(), lr=fused.defaults["lr"])
    start = [p.detach().clone() for p in module.network.parameters()]
    images = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    for network, optimizer in ((module.network, fused), (stepwise_network, stepwise)):
        for _ in range(3):
            optimizer.zero_grad()
            network(images.contiguous(memory_format=torch.channels_last))[0].square().mean().backward()
            optimizer.step()
    pairs = list(zip(module.network.parameters(), stepwise_network.parameters(), strict=True))
    assert (
        max(float((p - s).abs().max()) for p, s in zip(module.network.parameters(), start, strict=True))
        > 1e-3
    )
    assert max(float((f - s).abs().max()) for f, s in pairs) < 1e-4  # a tenth of one step (lr 1e-3)
