"""Carrying on after a CUDA out-of-memory error with half the batch, and saying so."""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable, Sequence
from typing import TypeVar

import torch

from core.errors import PoseCloudError

log = logging.getLogger(__name__)

Batch = TypeVar("Batch", bound=Sequence)
Result = TypeVar("Result")


def halved_batch_size(size: int, error: torch.cuda.OutOfMemoryError, what: str) -> int:
    """The batch size to try after ``error``: half of ``size``; a PoseCloudError when ``size`` is 1."""
    if size <= 1:
        raise PoseCloudError(
            f"CUDA out of memory during {what} even at batch size 1 ({error}); use smaller images "
            "(image_height, image_width), a smaller backbone, or a GPU with more free memory"
        ) from error
    return size // 2


def release_cuda_memory() -> None:
    """Free what a failed attempt left behind: unreachable tensors, then the allocator's cached blocks."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


class HalvingBatches:
    """Runs a function over a batch at most ``size`` items at a time; a CUDA out-of-memory error
    halves ``size``, for the rest of this batch and all later ones, and retries the failed slice.

    ``fn`` must leave no trace when it fails (a stateful ``fn`` updates its state only at its end).
    """

    def __init__(self, size: int, what: str) -> None:
        self.size, self.what = size, what

    def map(self, fn: Callable[[Batch], Result], batch: Batch) -> list[Result]:
        """``fn`` applied to consecutive slices of ``batch``, in order."""
        results: list[Result] = []
        start = 0
        while start < len(batch):
            part = batch[start : start + self.size]
            try:
                results.append(fn(part))
            except torch.cuda.OutOfMemoryError as error:
                smaller = halved_batch_size(self.size, error, self.what)
            else:
                start += len(part)
                continue
            release_cuda_memory()
            log.warning(
                "CUDA out of memory during %s at batch size %d; carrying on at %d",
                self.what,
                self.size,
                smaller,
            )
            self.size = smaller
        return results
