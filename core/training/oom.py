"""Training that restarts with half the batch after a CUDA out-of-memory error.

Halving inside a running fit would mean rebuilding Lightning's data loaders mid-epoch and
re-tracing the optimizer step; restarting the fit from the last checkpoint (written at the end of
every epoch) with a smaller batch reuses the resume path instead: model, optimizer, LR schedule,
epoch counter and best-checkpoint record come back, and only the epoch that failed is redone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

import torch

from core.predict.oom import halved_batch_size, release_cuda_memory

log = logging.getLogger(__name__)

Result = TypeVar("Result")


def fit_with_batch_halving(fit: Callable[[int, bool], Result], batch_size: int) -> Result:
    """``fit(batch_size, restarted)``, run again at half the batch size after each CUDA
    out-of-memory error (``restarted`` True: continue from the last checkpoint), down to 1.

    Returns what the successful ``fit`` returned; raises a PoseCloudError if batch size 1 fails.
    """
    restarted = False
    while True:
        try:
            return fit(batch_size, restarted)
        except torch.cuda.OutOfMemoryError as error:
            smaller = halved_batch_size(batch_size, error, "training")
        release_cuda_memory()
        log.warning(
            "CUDA out of memory while training at batch size %d; restarting from the last checkpoint "
            "with batch size %d",
            batch_size,
            smaller,
        )
        batch_size, restarted = smaller, True
