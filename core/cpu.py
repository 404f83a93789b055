"""What this CPU can do, where it decides how posecloud computes."""

from __future__ import annotations

from pathlib import Path

BF16_FLAGS = {"avx512_bf16", "amx_bf16"}  # x86 CPUs that compute in bf16 natively (/proc/cpuinfo)


def cpu_has_bf16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether this CPU has bf16 instructions (False where it cannot be told). Without them torch
    emulates bfloat16, slower than float32."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return False
    flags = next(
        (line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), []
    )
    return bool(BF16_FLAGS & set(flags))
