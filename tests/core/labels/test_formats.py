import numpy as np
import pytest

from core.errors import LabelFormatError
from core.labels.dlc_h5 import write_pose_h5
from core.labels.formats import export_labels_csv, read_labels
from core.labels.table import PoseTable
from tests.testdata import TOY

MOUSE_CSV = TOY / "CollectedData.csv"


def test_read_labels_dispatches_on_extension(tmp_path):
    from_csv = read_labels(MOUSE_CSV)
    assert from_csv.values[0, 0].tolist() == [77.25, 36.25]
    for name in ("labels.h5", "labels.HDF5"):
        from_h5 = read_labels(write_pose_h5(from_csv, tmp_path / name))
        assert from_h5.index == from_csv.index
        assert np.array_equal(from_h5.values, from_csv.values, equal_nan=True)


def test_unsupported_extension(tmp_path):
    path = tmp_path / "labels.json"
    path.write_text("{}")
    with pytest.raises(
        LabelFormatError, match=r"unsupported label file type '.json'; use one of \['.csv', '.h5'"
    ):
        read_labels(path)


def test_export_labels_csv(tmp_path):
    table = PoseTable(
        ["nose", "tail"], ["labeled-data/v/img1.png"], np.array([[[1.25, 2.0], [np.nan, np.nan]]])
    )
    out = export_labels_csv(table, tmp_path / "out" / "labels.csv")
    assert out.read_text() == (
        "scorer,posecloud,posecloud,posecloud,posecloud\n"
        "bodyparts,nose,nose,tail,tail\n"
        "coords,x,y,x,y\n"
        "labeled-data/v/img1.png,1.25,2.0,,\n"
    )
    with pytest.raises(LabelFormatError, match="must end in .csv"):
        export_labels_csv(table, tmp_path / "labels.txt")
