"""The arithmetic a training runs in: bf16 mixed precision on a GPU; on a CPU float32, or bf16 mixed
precision where asked (``cpu_precision``): 1.3x the steps per second of the small recipe on CPUs with
bf16 instructions (the network alone about 2.4x; BENCHMARKS.md), slower on CPUs without them, where
it is emulated."""

from __future__ import annotations

from pathlib import Path

import torch

from core.config import TrainConfig

BF16_FLAGS = {"avx512_bf16", "amx_bf16"}  # x86 CPUs that compute in bf16 natively (/proc/cpuinfo)


def cpu_has_bf16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether this CPU has bf16 instructions (False where it cannot be told)."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return False
    flags = next(
        (line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), []
    )
    return bool(BF16_FLAGS & set(flags))


def trainer_precision(train: TrainConfig, device: torch.device) -> str:
    """Lightning's ``precision`` for a training of ``train`` on ``device``."""
    if device.type == "cuda":
        return "bf16-mixed"
    wanted = train.cpu_precision
    if wanted == "auto":
        wanted = "bf16" if cpu_has_bf16() else "32"
    return "bf16-mixed" if wanted == "bf16" else "32-true"
