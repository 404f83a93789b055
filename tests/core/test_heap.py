"""``keep_large_arrays_on_the_heap``: a large array freed and allocated again reuses its pages
instead of a fresh mapping the kernel zeroes page by page (counted as minor page faults)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.testdata import REPO

# Allocates and frees a 64 MB array 10 times; prints the minor page faults that took.
FAULTS = """
import resource, sys
import numpy as np
from core.heap import keep_large_arrays_on_the_heap
if sys.argv[1] == "heap":
    assert keep_large_arrays_on_the_heap()
np.ones(8 << 20).sum()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    np.ones(8 << 20).sum()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def faults(mode: str) -> int:
    done = subprocess.run(
        [sys.executable, "-c", FAULTS, mode], cwd=REPO, capture_output=True, text=True, check=True
    )
    return int(done.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_large_arrays_reuse_their_pages():
    mapped, heap = faults("mapped"), faults("heap")
    assert mapped >= 10 * 32  # a fault per page each time at least: 32 huge pages of 2 MiB
    assert heap * 20 < mapped
