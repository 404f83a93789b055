# posecloud: `make up` starts the app, `make test` runs every test. Both install what is missing.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
# Label Studio pins packages that clash with ours (Django, redis < 5.3, ...): it gets a venv of its own
LS_VENV := .ls-venv
LS_STAMP := $(LS_VENV)/.installed-stamp

.PHONY: install labelstudio system test lint up bench-predict bench-accuracy bench-eks bench-service bench-semisupervised bench-labelstudio bench-ui bench-qc bench-rounds bench-cpu-training clean

# Debian packages the project needs (ffmpeg for probing/transcoding, redis for the queue, chromium
# and an emoji font for the browser tests: the pages show job states as emoji).
system:
	@command -v ffprobe >/dev/null && command -v redis-server >/dev/null && command -v chromium >/dev/null && \
	  test -f /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ffmpeg redis-server chromium \
	    fonts-noto-color-emoji; }

$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip==25.3
	$(PY) -m pip install -q -c constraints.txt torch torchvision
	$(PY) -m pip install -q -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

# The smoother's kernels, compiled ahead into a module that loads without numba, and into numba's
# cache: a first smoothing is then as quick as the next (about 11 s on the 2-core machine). The
# modules' bytecode too, which Python does not write where PYTHONDONTWRITEBYTECODE is set (as on
# the project's machines): each command would compile its modules again (30 ms for smooth)
install: system $(STAMP)
	$(PY) -m core.smoothing.precompile
	$(PY) -m compileall -q core app worker

$(LS_STAMP): labelstudio-constraints.txt
	@test -x $(LS_VENV)/bin/python || python3 -m venv $(LS_VENV)
	$(LS_VENV)/bin/pip install -q --upgrade pip==25.3
	$(LS_VENV)/bin/pip install -q -c labelstudio-constraints.txt label-studio
	@touch $(LS_STAMP)

labelstudio: $(LS_STAMP)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --config pyproject.toml

# Two test processes (pytest-xdist), each test file in one of them: on the 2-core machine the
# suite waits on workers, servers and browsers as much as it computes. TEST_PROCESSES=0 runs them
# in this process, one after another.
TEST_PROCESSES ?= 2
test: install labelstudio lint
	$(VENV)/bin/pytest -n $(TEST_PROCESSES) --dist loadfile

up: install labelstudio
	$(VENV)/bin/posecloud up

# Benchmarks (figures go in BENCHMARKS.md); each compares against its peer on this machine in one run.
bench-predict: install
	bash benchmarks/setup_lightning_pose.sh
	$(PY) benchmarks/predict_throughput.py --batch 16 --runtimes torch bf16 onnx openvino openvino-bf16 auto
	$(PY) benchmarks/auto_by_model_type.py

bench-accuracy: install
	$(PY) benchmarks/accuracy.py --minutes 6

bench-eks: install
	bash benchmarks/setup_eks_reference.sh
	$(PY) benchmarks/eks_benchmark.py
	$(PY) benchmarks/smooth_command.py

bench-service: install
	$(PY) benchmarks/service_benchmark.py --epochs 5 --upload-mb 1000 --clients 50 --requests 2000

bench-ui: install
	$(PY) benchmarks/ui_render.py --rounds 3

bench-semisupervised: install
	$(PY) benchmarks/semisupervised.py --minutes 4 --seeds 0 1 2

bench-labelstudio: install labelstudio
	$(PY) benchmarks/labelstudio_benchmark.py

# Three trainings per seed and model; about 40 minutes on the 2-core machine.
bench-cpu-training: install
	$(PY) benchmarks/cpu_training.py --epochs 40 --seeds 0 1 2

bench-qc: install
	$(PY) benchmarks/label_qc.py --seeds 20

# One thread (torch, OpenCV, OpenMP): about 30-40 minutes on the 2-core machine.
bench-rounds: install
	OMP_NUM_THREADS=1 $(PY) benchmarks/label_rounds.py --seeds 0 1 2 --steps 80 --fine-tune-steps 40 --threads 1

clean:
	rm -rf $(VENV) $(LS_VENV) .pytest_cache .ruff_cache
