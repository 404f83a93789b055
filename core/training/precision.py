"""The arithmetic a training runs in: bf16 mixed precision on a GPU; on a CPU float32, or bf16 mixed
precision where asked (``cpu_precision``): 1.3x the steps per second of the small recipe on CPUs with
bf16 instructions (the network alone about 2.4x; BENCHMARKS.md), slower on CPUs without them, where
it is emulated."""

from __future__ import annotations

import torch

from core.config import TrainConfig
from core.cpu import cpu_has_bf16


def trainer_precision(train: TrainConfig, device: torch.device) -> str:
    """Lightning's ``precision`` for a training of ``train`` on ``device``."""
    if device.type == "cuda":
        return "bf16-mixed"
    wanted = train.cpu_precision
    if wanted == "auto":
        wanted = "bf16" if cpu_has_bf16() else "32"
    return "bf16-mixed" if wanted == "bf16" else "32-true"
