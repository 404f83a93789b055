#!/usr/bin/env bash
# Creates the Lightning Pose 2.4.3 virtualenv used as the peer in the prediction benchmark:
# <repo>/.bench-venv-lp. Idempotent: exits at once (~2 s) when the venv already has lightning-pose 2.4.3,
# torch and cv2.
#
# A plain `pip install lightning-pose` fails offline: its nvidia-dali-cuda110 requirement is a stub that
# fetches from NVIDIA's own index. So its dependency tree (resolved once with pip, CPython 3.11, torch
# pinned to 2.14.1 / torchvision 0.29.1) is installed here with exact versions and --no-deps, then
# lightning-pose itself with --no-deps. Left out on purpose:
#   nvidia-dali-cuda110     GPU-only; with no GPU lightning-pose predicts through OpenCV.
#   opencv-python, opencv-contrib-python (wanted by imaug / aniposelib)
#                           they install the same `cv2` module as opencv-python-headless over it (and
#                           aniposelib would pull OpenCV 5); keeping only opencv-python-headless 4.12.0.88
#                           gives the peer the same decoder build as posecloud's own venv.
set -euo pipefail

LP_VERSION="2.4.3"
VENV="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.bench-venv-lp"

if [[ -x "$VENV/bin/python" ]] && "$VENV/bin/python" - "$LP_VERSION" <<'EOF' 2>/dev/null; then
import sys
from importlib.metadata import version
from importlib.util import find_spec

import cv2  # noqa: F401
import torch  # noqa: F401

sys.exit(0 if version("lightning-pose") == sys.argv[1] and find_spec("lightning_pose.api") else 1)
EOF
    echo "lightning-pose $LP_VERSION venv ready: $VENV"
    exit 0
fi

rm -rf "$VENV"
python3.11 -m venv "$VENV"  # the pinned wheels below are for CPython 3.11
PIP=("$VENV/bin/pip" install --no-deps --no-input --quiet)

"${PIP[@]}" torch==2.14.1 torchvision==0.29.1 triton==3.8.0 \
    cuda-bindings==13.5.0 cuda-pathfinder==1.9.0 cuda-toolkit==13.0.3.0 \
    nvidia-cublas==13.1.1.3 nvidia-cuda-cupti==13.0.85 nvidia-cuda-nvrtc==13.0.88 \
    nvidia-cuda-runtime==13.0.96 nvidia-cudnn-cu13==9.24.0.43 nvidia-cufft==12.0.0.61 \
    nvidia-cufile==1.15.1.6 nvidia-curand==10.4.0.35 nvidia-cusolver==12.0.4.66 \
    nvidia-cusparse==12.6.3.3 nvidia-cusparselt-cu13==0.8.1 nvidia-nccl-cu13==2.30.7 \
    nvidia-nvjitlink==13.5.37 nvidia-nvshmem-cu13==3.4.5 nvidia-nvtx==13.0.85

"${PIP[@]}" absl-py==2.5.1 aiohappyeyeballs==2.7.1 aiohttp==3.14.5 aiosignal==1.4.0 aniposelib==0.8.0 \
    annotated-doc==0.0.7 annotated-types==0.8.0 antlr4-python3-runtime==4.9.3 anyio==4.16.0 \
    attrs==26.1.0 click==8.5.1 cloudpickle==3.1.2 contourpy==1.3.3 cycler==0.12.1 decorator==5.3.1 \
    filelock==4.2.11 fonttools==4.68.0 frozenlist==1.8.0 fsspec==2026.9.0 grpcio==1.85.1 h11==0.16.0 \
    h5py==3.16.0 hf-xet==1.8.0 httpcore2==2.16.2 httpx2==2.16.2 huggingface_hub==2.4.0 \
    hydra-core==1.3.8 idna==3.20 imagecorruptions-imaug==1.1.5 ImageIO==2.38.1 imageio-ffmpeg==0.8.1 \
    imaug==0.4.3 jax==0.10.2 jaxlib==0.10.2 jaxtyping==0.3.11 Jinja2==3.1.6 joblib==1.6.0 \
    kiwisolver==1.5.1 kornia==0.9.0 kornia_rs==0.2.0 lazy-loader==0.6 lightning==2.5.6 \
    lightning-utilities==0.15.3 llvmlite==0.50.0 Markdown==3.11.3 markdown-it-py==4.3.0 \
    MarkupSafe==3.0.4 matplotlib==3.11.2 mdurl==0.1.2 ml_dtypes==0.6.0 moviepy==2.2.1 mpmath==1.3.0 \
    multidict==7.2.1 narwhals==2.29.0 networkx==3.6.1 numba==0.68.1 numpy==2.2.6 omegaconf==2.3.1 \
    opencv-python-headless==4.12.0.88 opt_einsum==3.4.0 packaging==26.3 pandas==3.1.1 pillow==11.3.0 \
    proglog==0.1.12 propcache==0.5.4 protobuf==7.36.2 pydantic==2.14.3 pydantic_core==2.50.4 \
    Pygments==2.21.0 pyparsing==3.3.3 python-dateutil==4.0.0 python-dotenv==1.2.4 \
    pytorch-lightning==2.5.6 PyYAML==6.0.3 regex==2026.11.15 rich==15.0.0 safetensors==0.8.0 \
    scikit-image==0.26.0 scikit-learn==1.9.1 scipy==1.17.1 setuptools==84.2.1 shapely==2.2.0 \
    shellingham==1.5.4 six==1.17.0 sympy==1.14.0 tensorboard==2.21.0 tensorboard-data-server==0.7.2 \
    threadpoolctl==3.8.0 tifffile==2026.3.3 tokenizers==0.23.3 toml==0.10.2 torchmetrics==1.9.0 \
    tqdm==4.70.1 transformers==5.23.0 truststore==0.10.5 typer==0.29.2 typing-inspection==0.4.5 \
    typing_extensions==4.16.0 tzdata==2026.6 wadler_lindig==0.1.8 Werkzeug==3.1.9 yarl==1.25.1

"${PIP[@]}" "lightning-pose==$LP_VERSION"

"$VENV/bin/python" -c "import lightning_pose.api, torch; print('torch', torch.__version__)"
echo "lightning-pose $LP_VERSION venv ready: $VENV"
