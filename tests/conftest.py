"""Shared fixtures: paths to the real data in ../shared/data and small videos the tests make."""

from __future__ import annotations

import json
import logging
import shutil
import uuid
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redis
import torch
from sqlalchemy import create_engine
from sqlalchemy.exc import OperationalError

from app.redis_server import RedisServer
from tests.services import private_redis
from tests.testdata import DLC_REACHING, EXAMPLE_PROJECT, TINY, TOY, TOY_VIDEO, write_video

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@contextmanager
def module_folder(request: pytest.FixtureRequest, name: str) -> Iterator[Path]:
    """A folder for a module-scoped fixture, removed when the module is done unless one of its tests
    failed (then its logs and outputs help find why): pytest removes a passing test's ``tmp_path``
    (pyproject's retention policy) but keeps ``tmp_path_factory`` folders to the end of the run, and
    trained models' checkpoints would fill the disk."""
    failed_before = request.session.testsfailed
    folder = request.getfixturevalue("tmp_path_factory").mktemp(name)
    yield folder
    if request.session.testsfailed == failed_before:
        shutil.rmtree(folder, ignore_errors=True)


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


# A test of the workers' flow, not of the data layer: SQLite alone. The data layer, the records'
# conditional updates and a redelivered or taken-over job are tested on both databases.
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a unique PostgreSQL schema dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'db' / 'posecloud.db'}"
        return
    schema = f"posecloud_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    try:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    except OperationalError as e:
        admin.dispose()
        pytest.skip(f"PostgreSQL is not reachable at 127.0.0.1:5432: {e}")
    yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
    admin.dispose()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A private Redis server for the test session (never the machine's shared one)."""
    server = private_redis(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The private Redis, emptied for each test."""
    redis.Redis.from_url(redis_server.url).flushall()
    return redis_server.url


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A local S3-compatible server (moto) for the duration of the test session."""
    moto_server = pytest.importorskip("moto.server")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_storage(s3_endpoint: str) -> tuple[str, dict[str, Any]]:
    """A fresh bucket on the local S3 server: ``(storage URL, fsspec options)``."""
    import boto3

    bucket = f"test-{uuid.uuid4().hex[:12]}"
    credentials = {"aws_access_key_id": "test", "aws_secret_access_key": "test", "region_name": "us-east-1"}
    boto3.client("s3", endpoint_url=s3_endpoint, **credentials).create_bucket(Bucket=bucket)
    options = {"endpoint_url": s3_endpoint, "key": "test", "secret": "test"}
    return f"s3://{bucket}/posecloud", {**options, "client_kwargs": {"region_name": "us-east-1"}}


@pytest.fixture(scope="session")
def toy_labels_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The toy project's CollectedData.csv and labeled-data/ images as one ZIP."""
    path = tmp_path_factory.mktemp("labels") / "mirror-mouse.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.write(TOY / "CollectedData.csv", "mirror-mouse/CollectedData.csv")
        for image in sorted((TOY / "labeled-data").rglob("*.png")):
            zf.write(image, f"mirror-mouse/{image.relative_to(TOY).as_posix()}")
    return path


@pytest.fixture(scope="session")
def dlc_project_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The DeepLabCut reaching project zipped as a user would: its folder, config.yaml and labeled-data/."""
    path = tmp_path_factory.mktemp("dlc") / "Reaching-Mackenzie.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for file in sorted(DLC_REACHING.rglob("*")):
            if file.is_file():
                zf.write(file, f"Reaching-Mackenzie/{file.relative_to(DLC_REACHING).as_posix()}")
    return path
