"""Training restarts with half the batch after a CUDA out-of-memory error (injected on the CPU)."""

import logging

import pytest
import torch

from core.errors import PoseCloudError
from core.training.oom import fit_with_batch_halving


def test_fit_restarts_from_the_checkpoint_with_half_the_batch(caplog):
    calls: list[tuple[int, bool]] = []

    def fit(batch_size: int, restarted: bool) -> str:
        calls.append((batch_size, restarted))
        if batch_size > 4:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 1.00 GiB")
        return "checkpoint"

    with caplog.at_level(logging.WARNING):
        assert fit_with_batch_halving(fit, 16) == "checkpoint"
    assert calls == [(16, False), (8, True), (4, True)]
    assert "at batch size 16; restarting from the last checkpoint with batch size 8" in caplog.text


def test_out_of_memory_at_batch_size_one_stops_training_with_a_clear_error():
    def fit(batch_size: int, restarted: bool) -> None:
        raise torch.cuda.OutOfMemoryError("CUDA out of memory")

    with pytest.raises(PoseCloudError, match="during training even at batch size 1"):
        fit_with_batch_halving(fit, 3)
