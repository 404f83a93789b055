import pytest

from core.config import ProjectConfig, load_project, load_train_config, parse_config
from core.errors import ConfigError
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
