"""The worker's command: ``posecloud worker``."""

from __future__ import annotations

import argparse

from core.errors import ConfigError


def parse_gpus(text: str, available: int) -> list[str]:
    """``--gpus``: ``auto`` (every GPU), ``none``, or distinct indices of GPUs this machine has."""
    if text == "auto":
        return [str(i) for i in range(available)]
    if text == "none":
        return []
    parts = [p.strip() for p in text.split(",")]
    if not all(p.isdigit() for p in parts):
        raise ConfigError(f"--gpus takes auto, none or GPU indices like 0,1; got {text!r}")
    if len(set(parts)) != len(parts):
        raise ConfigError(f"--gpus lists a GPU twice ({text}); one slot per GPU")
    missing = [p for p in parts if int(p) >= available]
    if missing:
        have = f"GPUs 0-{available - 1}" if available else "no CUDA GPU"
        raise ConfigError(f"--gpus {text}: this machine has {have}; GPU(s) {', '.join(missing)} do not exist")
    return parts


def cmd_worker(args: argparse.Namespace) -> int:
    from worker.slots.supervisor import detect_gpus, plan_slots, run_slots

    gpus = parse_gpus(args.gpus, len(detect_gpus()) if args.gpus != "none" else 0)
    if gpus and args.slots is not None:
        raise ConfigError(
            f"--slots sets CPU slots, but this worker runs one slot per GPU ({len(gpus)}: {','.join(gpus)}); "
            "choose GPUs with --gpus, or use the CPU with --gpus none --slots N"
        )
    return run_slots(plan_slots(gpus, args.slots or 1), "INFO" if args.verbose else "WARNING")


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {text}")
    return value


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``posecloud worker``."""
    p = sub.add_parser("worker", help="run job slots: one per GPU, or --slots sharing the CPU")
    p.add_argument(
        "--gpus",
        default="auto",
        help="GPU indices, one slot each (e.g. 0,1); auto: every GPU; none: CPU only",
    )
    p.add_argument(
        "--slots", type=positive_int, default=None, help="CPU slots when no GPU is used (default 1)"
    )
    p.set_defaults(run=cmd_worker)
