"""The service never loads torch or the model code (it enqueues work for the workers instead)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_api_does_not_import_torch() -> None:
    code = (
        "import sys, app.api.main, app.api.factory; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'torch' or m.startswith('core.models')))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
