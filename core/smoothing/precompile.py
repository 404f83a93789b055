"""Compile the smoother's kernels ahead (``make install`` and the Docker build run
``python -m core.smoothing.precompile``), so that a first ``posecloud smooth`` after an install runs
as fast as the next and neither loads numba (``core.smoothing.compiled``):

1. numba compiles every kernel into its cache on disk (beside the modules, or ``NUMBA_CACHE_DIR``),
   for the argument types a small single-camera and a small multi-camera ensemble give them: the
   paths the smoothers take on files (float64 arrays throughout). The cache is what runs where the
   built module cannot (a kernel edited since).
2. numba's pycc compiles the same kernels, for those types with arrays of any layout, into one
   extension module (a C compiler is needed: without one this step is skipped, with a warning).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import warnings
from pathlib import Path

from core.smoothing import compiled


def compile_kernels() -> None:
    """Smooth a small synthetic ensemble with one camera and with two (cache misses compile)."""
    import numpy as np

    from core.smoothing.ensemble import ensemble_stats
    from core.smoothing.multicam import smooth_multi_camera
    from core.smoothing.singlecam import smooth_single_camera
    from core.smoothing.synthetic import simulate_ensemble

    _, members = simulate_ensemble(n_members=3, n_keypoints=2, n_frames=300, seed=0)
    smooth_single_camera(ensemble_stats(members))
    _, other_view = simulate_ensemble(n_members=3, n_keypoints=2, n_frames=300, seed=1)
    for table in other_view:  # a second camera: the same keypoints, moved and rescaled
        table.values[..., :2] = table.values[..., :2] * np.array([0.8, 1.1]) + 40
    smooth_multi_camera({"a": ensemble_stats(members), "b": ensemble_stats(other_view)})


def build_module() -> Path:
    """Compile every kernel numba compiled in this process into ``compiled.module_path()``; remove
    the modules built from earlier source."""
    from numba.core import types
    from numba.core.compiler import Flags
    from numba.core.errors import NumbaPendingDeprecationWarning

    with warnings.catch_warnings():  # pycc has no successor in numba yet; numba is pinned
        warnings.simplefilter("ignore", NumbaPendingDeprecationWarning)
        from numba.pycc import CC
        from numba.pycc import compiler as pycc_compiler

    def as_kernel_asks() -> Flags:
        """pycc's compiler flags with what ``@kernel`` asks of numba's JIT (pycc has no options for
        them): numpy's error model (1/0 is inf, not ZeroDivisionError) and the GIL let go."""
        flags = Flags()
        flags.error_model = "numpy"
        flags.release_gil = True
        return flags

    def any_layout(t: types.Type) -> types.Type:
        if isinstance(t, types.Array):
            return t.copy(layout="A")
        if isinstance(t, types.BaseTuple):
            return types.Tuple([any_layout(member) for member in t.types])
        return t

    target = compiled.module_path()
    module = CC(compiled.module_name())
    module.verbose = False
    for name, dispatcher in compiled.JIT_KERNELS.items():
        signatures = {
            overload.signature.return_type(*map(any_layout, overload.signature.args))
            for overload in dispatcher.overloads.values()
        }
        if len(signatures) != 1:
            raise RuntimeError(f"kernel {name} was compiled for {len(signatures)} argument types, not 1")
        module.export(name, signatures.pop())(dispatcher.py_func)
    with tempfile.TemporaryDirectory() as scratch:
        module.output_dir = scratch
        pycc_compiler.Flags = as_kernel_asks
        try:
            module.compile()
        finally:
            pycc_compiler.Flags = Flags
        target.parent.mkdir(exist_ok=True)
        # moved beside the target, then renamed over it: a process loading it meanwhile (a test in
        # another process, the app during an install) sees the old module or the new, never a part
        partial = target.with_name(f".{target.name}.partial")
        shutil.move(Path(scratch) / target.name, partial)
        os.replace(partial, target)
    for old in target.parent.glob("_kernels_*"):
        if old != target:
            old.unlink()
    return target


def main() -> None:
    os.environ[compiled.JIT_ONLY] = "1"  # before the kernel modules are imported: numba's functions
    compile_kernels()
    try:
        path = build_module()
    except Exception as e:  # the compiler's and distutils' errors have no common base
        print(
            f"warning: the smoother's kernels were not compiled ahead ({type(e).__name__}: {e}); "
            "they load through numba's cache instead, about 1 s more per smoothing command. "
            "Install a C compiler and the Python headers (e.g. gcc, python3-dev) and rerun "
            "python -m core.smoothing.precompile",
            file=sys.stderr,
        )
        return
    print(f"compiled the smoother's kernels ahead: {path}")


if __name__ == "__main__":
    main()
