"""The ``posecloud`` command line: every layer's commands, help for every option, checked values."""

from __future__ import annotations

import argparse
import re

import pytest

from app.cli import build_parser, main
from core.errors import ConfigError
from worker.cli import parse_gpus

COMMANDS = (
    "train", "predict", "import", "export", "smooth", "suggest-frames", "qc", "worker", "api", "up", "ui", "labelstudio", "mongo",
    "rounds",
)  # fmt: skip


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices


def test_top_level_help_names_every_command(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    assert set(_subparsers(build_parser())) == set(COMMANDS)
    for command in COMMANDS:
        assert re.search(rf"^    {command}\b", text, re.M), f"{command} missing from the help:\n{text}"


@pytest.mark.parametrize("command", COMMANDS)
def test_every_option_has_a_help_text(command: str) -> None:
    sub = _subparsers(build_parser())[command]
    missing = [a.dest for a in sub._actions if not a.help and not isinstance(a, argparse._HelpAction)]
    assert not missing, f"posecloud {command}: no help for {missing}"


def test_the_smoothing_option_has_a_readable_name_and_is_checked(capsys: pytest.CaptureFixture) -> None:
    parser = build_parser()
    for flag in ("--smoothing", "--s"):
        assert parser.parse_args(["smooth", "a.csv", "-o", "o.csv", flag, "4"]).s == 4.0
    with pytest.raises(SystemExit):
        parser.parse_args(["predict", "model", "v.mp4", "--smoothing", "0"])
    assert "must be above 0" in capsys.readouterr().err


def test_gpu_lists_are_checked() -> None:
    assert (
        parse_gpus("auto", 2) == ["0", "1"]
        and parse_gpus("none", 2) == []
        and parse_gpus("1,0", 2) == ["1", "0"]
    )
    with pytest.raises(ConfigError, match="GPU indices like 0,1"):
        parse_gpus("first", 2)
    with pytest.raises(ConfigError, match="lists a GPU twice"):
        parse_gpus("0,0", 2)
    with pytest.raises(ConfigError, match="no CUDA GPU; GPU\\(s\\) 0 do not exist"):
        parse_gpus("0", 0)
    with pytest.raises(ConfigError, match="GPUs 0-1; GPU\\(s\\) 2 do not exist"):
        parse_gpus("0,2", 2)


def test_cpu_slots_with_gpus_are_refused_with_a_reason(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setattr("worker.slots.supervisor.detect_gpus", lambda: ["0", "1"])  # a 2-GPU machine
    assert main(["worker", "--slots", "3"]) == 2
    err = capsys.readouterr().err
    assert "one slot per GPU (2: 0,1)" in err and "--gpus none --slots N" in err
