"""Shared fixtures: paths to the real data in ../shared/data and small videos the tests make."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.testdata import EXAMPLE_PROJECT, TINY, TOY, TOY_VIDEO, write_video


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def toy_dir() -> Path:
    assert TOY.is_dir(), f"the toy dataset is missing: {TOY}"
    return TOY


@pytest.fixture(scope="session")
def toy_clip(tmp_path_factory) -> Path:
    """The first 40 frames of the toy video, re-encoded (fast end-to-end prediction tests)."""
    from core.video.reader import iter_frames

    frames = []
    for frame in iter_frames(TOY_VIDEO):
        frames.append(frame)
        if len(frames) == 40:
            break
    return write_video(tmp_path_factory.mktemp("clip") / "clip.mp4", np.stack(frames), fps=250)


def _sets(overrides: dict) -> list[str]:
    return [arg for k, v in overrides.items() for arg in ("--set", f"{k}={json.dumps(v)}")]


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    from core.cli import main

    model_dir = tmp_path_factory.mktemp("models") / "tiny"
    assert main(["train", str(EXAMPLE_PROJECT), "-o", str(model_dir), *_sets(TINY)]) == 0
    return model_dir
