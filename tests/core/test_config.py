import math
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.config import (
    INPUT_MULTIPLE,
    MAX_BATCH_SIZE,
    MAX_EPOCHS,
    MAX_IMAGE_SIZE,
    MAX_SEED,
    ProjectConfig,
    TrainConfig,
    load_project,
    load_train_config,
    parse_config,
)
from core.errors import ConfigError
from tests.core.test_names import NAME_FIELDS
from tests.testdata import EXAMPLE_PROJECT, TOY


def test_example_project_loads_with_absolute_data_dir():
    project = load_project(EXAMPLE_PROJECT)
    assert len(project.keypoints) == 17
    assert project.data_dir == TOY.resolve()
    assert project.skeleton_indices[0] == (4, 5)
    assert len(project.view_matches) == 2 and len(project.view_matches[0]) == 7


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"name": "p", "keypoints": ["a", "a"]}, "keypoints"),
        ({"name": "p", "keypoints": ["a", "b"], "skeleton": [["a", "zz"]]}, "skeleton"),
        ({"name": "p", "keypoints": ["a"], "colour": "red"}, "colour"),
        ({"name": "p", "keypoints": ["a", "b"], "view_matches": [["a"], ["a", "b"]]}, "view_matches"),
        ({"keypoints": ["a"]}, "name"),
    ],
)
def test_bad_project_fields_are_named(data, field):
    with pytest.raises(ConfigError, match=field):
        parse_config(ProjectConfig, data, "project.yaml")


def test_train_config_defaults_follow_lightning_pose():
    train = load_train_config(None)
    assert (train.epochs, train.learning_rate, train.lr_milestones, train.freeze_backbone_epochs) == (
        300,
        1e-3,
        [150, 200, 250],
        20,
    )


def test_train_config_errors_name_fields(tmp_path):
    with pytest.raises(ConfigError, match=r"backbone(.|\n)*epochs"):
        load_train_config(None, {"backbone": "resnet9", "epochs": 0})
    bad = tmp_path / "t.yaml"
    bad.write_text("epochs: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_train_config(bad)
    with pytest.raises(ConfigError, match="not found"):
        load_train_config(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="train_fraction"):
        load_train_config(None, {"train_fraction": 0.9, "val_fraction": 0.2})


@pytest.mark.parametrize("field", NAME_FIELDS)
@pytest.mark.parametrize(
    ("bad", "problem"),
    [
        ("a\x00b", "U+0000"),
        ("evil\u202egnp.exe", "U+202E"),
        ("", "at least 1 character"),
        ("   ", "empty"),
        ("../x", "'/'"),
        ("..", "not a name"),
        ("x" * 201, "at most 200 characters"),
    ],
)
def test_every_name_of_a_project_is_checked(field: str, bad: str, problem: str) -> None:
    data = {"name": "p", "keypoints": ["a"], **NAME_FIELDS[field](bad)}
    with pytest.raises(ConfigError, match=rf"(?m)^  {re.escape(field)}: .*{re.escape(problem)}"):
        parse_config(ProjectConfig, data, "project.yaml")


@pytest.mark.parametrize(
    ("setting", "limit"),
    [
        ("image_height", MAX_IMAGE_SIZE),
        ("image_width", MAX_IMAGE_SIZE),
        ("epochs", MAX_EPOCHS),
        ("batch_size", MAX_BATCH_SIZE),
        ("densenet_stacks", 8),
        ("densenet_growth_rate", 256),
        ("freeze_backbone_epochs", MAX_EPOCHS),
        ("val_every_n_epochs", MAX_EPOCHS),
        ("anneal_start_epoch", MAX_EPOCHS),
        ("num_workers", 64),
        ("unlabeled_seq_len", 256),
        ("seed", MAX_SEED),
    ],
)
@given(excess=st.integers(min_value=1, max_value=10**18))
def test_training_sizes_have_an_upper_bound_named_in_the_error(setting: str, limit: int, excess: int) -> None:
    value = limit + excess
    if setting.startswith("image_"):
        value = (value + 63) // 64 * 64  # a multiple every model takes: only the bound is wrong
    with pytest.raises(ConfigError, match=rf"{setting}: Input should be less than or equal to {limit}\b"):
        load_train_config(None, {setting: value})
    schema = TrainConfig.model_json_schema()["properties"][setting]
    assert limit in [schema.get("maximum")] + [option.get("maximum") for option in schema.get("anyOf", [])]


@given(milestone=st.one_of(st.integers(max_value=0), st.integers(min_value=MAX_EPOCHS + 1)))
def test_lr_milestones_are_epochs(milestone: int) -> None:
    with pytest.raises(ConfigError, match=r"lr_milestones\.0: Input should be"):
        load_train_config(None, {"lr_milestones": [milestone]})


@pytest.mark.parametrize(
    ("model_type", "size", "nearest"),
    [("heatmap", 100, "96 or 128"), ("context", 48, "32 or 64"), ("stacked_densenet", 96, "64 or 128")],
)
def test_image_sizes_must_be_multiples_the_model_takes(model_type: str, size: int, nearest: str) -> None:
    with pytest.raises(
        ConfigError, match=f"image_width {size} is not a multiple of .* {model_type} .*use {nearest}"
    ):
        load_train_config(None, {"model_type": model_type, "image_width": size})


def test_input_multiples_are_the_networks_downsampling() -> None:
    from core.models.context import ContextHeatmapNet
    from core.models.heatmap_net import HeatmapNet
    from core.models.stacked_densenet import StackedDenseNet

    assert {
        "heatmap": HeatmapNet.required_multiple,
        "context": ContextHeatmapNet.required_multiple,
        "stacked_densenet": StackedDenseNet(3, 2, n_stacks=1, growth_rate=4).required_multiple,
    } == INPUT_MULTIPLE


@pytest.mark.parametrize("setting", ["learning_rate", "max_minutes", "heatmap_sigma", "temporal_epsilon"])
def test_infinite_settings_are_refused(setting: str) -> None:
    with pytest.raises(ConfigError, match=f"{setting}: Input should be a finite number"):
        load_train_config(None, {setting: math.inf})
