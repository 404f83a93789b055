"""The example project as the Projects page and ``posecloud up`` read it: a clear error, not a crash,
where its data is missing (e.g. the empty folder Docker makes for a bind mount whose host path is
absent)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from app.example import EXAMPLE, read_example
from core.errors import ConfigError


def test_the_example_reads_its_labels_and_video() -> None:
    example = read_example()
    assert example.spec["name"] == "mirror-mouse" and len(example.spec["keypoints"]) == 17
    assert [v.name for v in example.videos] == ["test_vid.mp4"]


@pytest.mark.parametrize("data", ["missing", "empty"])
def test_missing_example_data_is_a_clear_error(tmp_path: Path, data: str) -> None:
    if data == "empty":
        (tmp_path / "data").mkdir()
    config = yaml.safe_load(EXAMPLE.read_text()) | {"data_dir": "data"}
    project_file = tmp_path / "project.yaml"
    project_file.write_text(yaml.safe_dump(config))
    with pytest.raises(ConfigError, match=r"the example's data \(its CollectedData.csv\) is not in .*data"):
        read_example(project_file)
