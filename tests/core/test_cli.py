from core.cli import main
from core.config import load_project
from core.data.labeled_frames import load_project_labels
from tests.testdata import SHARED_DATA

SLEAP = SHARED_DATA / "sleap_minimal"


def test_import_sleap_makes_a_trainable_project(tmp_path, capsys):
    dest = tmp_path / "flies"
    assert main(["import", str(SLEAP / "minimal_instance.pkg.slp"), "-o", str(dest), "--instance", "1"]) == 0
    project = load_project(dest)
    assert project.keypoints == ["A", "B"] and project.skeleton == [("A", "B")]
    (labels,) = load_project_labels(project)  # images were written where the labels say
    assert labels.xy.shape == (1, 2, 2)
    assert abs(labels.xy[0, 0, 0] - 205.9301) < 1e-3
    assert "1 labeled frames, 2 keypoints" in capsys.readouterr().out


def test_import_errors_are_clear(tmp_path, capsys):
    dest = tmp_path / "p"
    assert main(["import", str(SLEAP / "minimal_instance.pkg.slp"), "-o", str(dest)]) == 2
    assert "instance" in capsys.readouterr().err
    assert main(["import", str(SLEAP / "small_robot.mp4"), "-o", str(dest)]) == 2
    assert "neither a DeepLabCut project" in capsys.readouterr().err
    assert main(["import", str(SLEAP / "small_robot_minimal.slp"), "-o", str(dest)]) == 0
    assert main(["import", str(SLEAP / "small_robot_minimal.slp"), "-o", str(dest)]) == 2
    assert "already holds a project" in capsys.readouterr().err
