"""The smoother's compiled loops: ``@kernel`` marks one, written in numba's subset of Python.

``make install`` and the Docker build (``python -m core.smoothing.precompile``) compile every kernel
ahead of time into one extension module (numba's pycc) for the argument types the smoothers pass,
with arrays of any memory layout. A process that finds the module built from the current source
uses it: it loads in about a millisecond and without numba, whose import and first load of its
cached kernels took 1.1 s of the 2.5 s of a whole ``posecloud smooth`` on 5 x 17 x 20,000
(BENCHMARKS.md). Otherwise (a kernel edited since the install, no C compiler then, or
``POSECLOUD_JIT_KERNELS=1``) numba compiles each kernel at its first call and caches it on disk. Both
run the same source and give the same bits (``tests/core/smoothing/test_precompile.py``).

The module is named by a hash of the source files that hold kernels: an edit to any of them leaves
it unused until the next precompile.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import logging
import os
from collections.abc import Callable
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger(__name__)

KERNEL_MODULES = ("ensemble", "kalman", "robust")
"""The modules of ``core.smoothing`` whose functions are kernels."""
FOLDER = Path(__file__).parent / "__pycache__"
"""Where the ahead-of-time module is built (readable is enough to use it)."""
JIT_ONLY = "POSECLOUD_JIT_KERNELS"
"""Set to 1: numba compiles the kernels when first called even where the module is built (the
precompile step itself needs numba's functions)."""

JIT_KERNELS: dict[str, Any] = {}
"""Every kernel numba compiles in this process, by its exported name (the precompile step reads
their signatures)."""


def kernel(func: F | None = None, *, inline: bool = False) -> F:
    """Decorator: ``func`` compiled ahead where built (see the module), else by numba. ``inline``
    marks a helper that kernels inline and Python never calls: it is compiled only into them."""

    def compiled(func: F) -> F:
        name = exported_name(func)
        ahead = None if inline else getattr(_ahead_of_time(), name, None)
        if ahead is not None:
            return ahead
        if inline and _ahead_of_time() is not None:
            return func  # only ever called inside the built kernels
        from numba import njit

        dispatcher = njit(
            cache=True, nogil=True, error_model="numpy", inline="always" if inline else "never"
        )(func)
        if not inline:
            JIT_KERNELS[name] = dispatcher
        return dispatcher

    return compiled(func) if func is not None else compiled  # type: ignore[return-value]


def exported_name(func: Callable[..., Any]) -> str:
    """A kernel's name in the built module: its module's and its own (``kalman__factor``)."""
    return f"{func.__module__.rsplit('.', 1)[-1]}_{func.__name__}"


def module_name() -> str:
    """The built module's name for the current source of the kernel modules."""
    digest = hashlib.sha256()
    for name in KERNEL_MODULES:
        digest.update((Path(__file__).parent / f"{name}.py").read_bytes())
    return f"_kernels_{digest.hexdigest()[:16]}"


def module_path(name: str | None = None) -> Path:
    """Where the module ``name`` (default: the current source's) is built."""
    return FOLDER / f"{name or module_name()}{importlib.machinery.EXTENSION_SUFFIXES[0]}"


@cache
def _ahead_of_time() -> ModuleType | None:
    """The module built from the current source, or None (not built, or numba asked for)."""
    name = module_name()
    path = module_path(name)
    if os.environ.get(JIT_ONLY) == "1" or not path.is_file():
        return None
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except ImportError as e:  # built for another Python or machine, or truncated
        log.warning("%s does not load (%s): numba compiles the smoother's kernels instead", path.name, e)
        return None
    return module
