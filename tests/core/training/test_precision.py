"""Which arithmetic a training runs in: bf16 on a GPU; on a CPU as ``cpu_precision`` says, ``auto``
by the CPU's instructions."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from core.config import TrainConfig
from core.training.precision import cpu_has_bf16, trainer_precision

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
