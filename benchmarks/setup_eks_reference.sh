#!/usr/bin/env bash
# Creates the ensemble-kalman-smoother 4.6.2 virtualenv used as the peer in the EKS benchmark:
# <repo>/.bench-venv-eks. Idempotent: exits at once when the venv already has that version.
# A plain pip install works offline here (it pulls jax/jaxlib 0.4.36, dynamax 1.0.1, aniposelib,
# numpy 2.4); nothing special is needed.
set -euo pipefail

EKS_VERSION="4.6.2"
VENV="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.bench-venv-eks"

if [[ -x "$VENV/bin/python" ]] && "$VENV/bin/python" - "$EKS_VERSION" <<'PY' 2>/dev/null; then
import sys
from importlib.metadata import version

import eks.singlecam_smoother  # noqa: F401

sys.exit(0 if version("ensemble-kalman-smoother") == sys.argv[1] else 1)
PY
    echo "ensemble-kalman-smoother $EKS_VERSION venv ready: $VENV"
    exit 0
fi

python3 -m venv "$VENV"
"$VENV/bin/pip" install --quiet "ensemble-kalman-smoother==$EKS_VERSION"
echo "ensemble-kalman-smoother $EKS_VERSION installed: $VENV"
