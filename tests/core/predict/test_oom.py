"""Halving the batch after a CUDA out-of-memory error, with the error injected on the CPU."""

import logging

import pytest
import torch

from core.errors import PoseCloudError
from core.predict.oom import HalvingBatches


def _fits_at_most(limit: int, calls: list[int]):
    def predict(part: list[int]) -> list[int]:
        calls.append(len(part))
        if len(part) > limit:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return [2 * x for x in part]

    return predict


def test_an_out_of_memory_batch_is_redone_in_halves_and_later_batches_stay_small(caplog):
    calls: list[int] = []
    halving = HalvingBatches(16, "prediction of clip.mp4")
    with caplog.at_level(logging.WARNING):
        first = halving.map(_fits_at_most(5, calls), list(range(16)))
    assert [x for part in first for x in part] == [2 * x for x in range(16)]
    assert calls == [16, 8, 4, 4, 4, 4]
    assert halving.size == 4
    assert (
        "CUDA out of memory during prediction of clip.mp4 at batch size 16; carrying on at 8" in caplog.text
    )
    assert "at batch size 8; carrying on at 4" in caplog.text

    calls.clear()
    second = halving.map(_fits_at_most(5, calls), list(range(10)))
    assert calls == [4, 4, 2] and [x for part in second for x in part] == [2 * x for x in range(10)]


def test_out_of_memory_at_batch_size_one_is_a_clear_error():
    halving = HalvingBatches(2, "labeled-frame prediction")
    with pytest.raises(
        PoseCloudError, match="out of memory during labeled-frame prediction even at batch size 1"
    ):
        halving.map(_fits_at_most(0, []), [1, 2, 3])


def test_other_errors_pass_through():
    def broken(part):
        raise RuntimeError("not a memory problem")

    with pytest.raises(RuntimeError, match="not a memory problem"):
        HalvingBatches(8, "prediction").map(broken, [1, 2])
