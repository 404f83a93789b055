import h5py
import numpy as np
import pandas as pd
import pytest

from core.errors import LabelFormatError
from core.labels.dlc_csv import read_pose_csv
from core.labels.dlc_h5 import COLUMN_LEVELS, read_pose_h5, write_pose_h5
from core.labels.table import PoseTable
from tests.testdata import TOY

MOUSE = TOY


def _dlc_frame(index: pd.Index, columns: list[tuple[str, ...]], values: np.ndarray) -> pd.DataFrame:
    names = ["scorer", "individuals", "bodyparts", "coords"] if len(columns[0]) == 4 else COLUMN_LEVELS
    return pd.DataFrame(values, index=index, columns=pd.MultiIndex.from_tuples(columns, names=list(names)))


def test_round_trip_is_exact(tmp_path):
    table = read_pose_csv(MOUSE / "CollectedData.csv")
    table.extra = {"set": ["train"] * 80 + ["test"] * 10}
    again = read_pose_h5(write_pose_h5(table, tmp_path / "CollectedData_rick.h5"))
    assert again.keypoints == table.keypoints
    assert again.index == table.index
    assert again.fields == ("x", "y") and again.scorer == "rick"
    assert np.array_equal(again.values, table.values, equal_nan=True)
    assert again.values[0, 1, 1] == 101.900392541708
    assert again.extra == table.extra
    stored = pd.read_hdf(tmp_path / "CollectedData_rick.h5", key="df_with_missing")
    assert list(stored.columns.names) == ["scorer", "bodyparts", "coords"]
    assert stored[("rick", "paw1LH_top", "x")].iloc[0] == 77.25


def test_reads_deeplabcut_multiindex_rows(tmp_path):
    rows = pd.MultiIndex.from_tuples(
        [("labeled-data", "vid1", "img001.png"), ("labeled-data", "vid1", "img007.png")]
    )
    cols = [("ann", "nose", "x"), ("ann", "nose", "y"), ("ann", "tail", "x"), ("ann", "tail", "y")]
    frame = _dlc_frame(rows, cols, np.array([[1.5, 2.5, np.nan, np.nan], [3.0, 4.0, 5.0, 6.0]]))
    frame.to_hdf(tmp_path / "labels.h5", key="df_with_missing", mode="w")
    table = read_pose_h5(tmp_path / "labels.h5")
    assert table.index == ["labeled-data/vid1/img001.png", "labeled-data/vid1/img007.png"]
    assert table.keypoints == ["nose", "tail"]
    assert table.values[0, 0].tolist() == [1.5, 2.5]
    assert np.isnan(table.values[0, 1]).all()
    assert table.values[1, 1].tolist() == [5.0, 6.0]


def test_predictions_with_frame_numbers(tmp_path):
    table = PoseTable(
        ["nose"],
        ["0", "1", "2"],
        np.array([[[1, 2, 0.9]], [[3, 4, 0.8]], [[5, 6, 0.1]]]),
        fields=("x", "y", "likelihood"),
        scorer="model",
    )
    again = read_pose_h5(write_pose_h5(table, tmp_path / "preds.h5"))
    assert again.index == ["0", "1", "2"]
    assert again.field("likelihood")[:, 0].tolist() == [0.9, 0.8, 0.1]


def test_missing_and_non_h5_files_are_rejected(tmp_path):
    with pytest.raises(LabelFormatError, match="label file not found"):
        read_pose_h5(tmp_path / "absent.h5")
    with pytest.raises(LabelFormatError, match="is not an HDF5 file"):
        read_pose_h5(MOUSE / "CollectedData.csv")


def test_h5_without_the_deeplabcut_key_is_rejected(tmp_path):
    pd.DataFrame({"a": [1.0]}).to_hdf(tmp_path / "other.h5", key="other", mode="w")
    with pytest.raises(
        LabelFormatError, match=r"no pandas table under the key 'df_with_missing' \(found \['/other'\]"
    ):
        read_pose_h5(tmp_path / "other.h5")
    with h5py.File(tmp_path / "raw.h5", "w") as f:
        f.create_dataset("df_with_missing", data=np.arange(4))
    with pytest.raises(LabelFormatError, match="'df_with_missing' is not a pandas DataFrame"):
        read_pose_h5(tmp_path / "raw.h5")


def test_wrong_column_layouts_are_rejected(tmp_path):
    flat = pd.DataFrame({"x": [1.0], "y": [2.0]})
    flat.to_hdf(tmp_path / "flat.h5", key="df_with_missing", mode="w")
    with pytest.raises(LabelFormatError, match="expected a DataFrame with 3 column levels"):
        read_pose_h5(tmp_path / "flat.h5")

    cols = [("ann", "m1", "nose", "x"), ("ann", "m1", "nose", "y")]
    _dlc_frame(pd.Index(["img.png"]), cols, np.ones((1, 2))).to_hdf(
        tmp_path / "multi.h5", key="df_with_missing", mode="w"
    )
    with pytest.raises(LabelFormatError, match="multi-animal files are not supported"):
        read_pose_h5(tmp_path / "multi.h5")

    cols = [("ann", "nose", "x"), ("ann", "nose", "likelihood")]
    _dlc_frame(pd.Index(["img.png"]), cols, np.ones((1, 2))).to_hdf(
        tmp_path / "noy.h5", key="df_with_missing", mode="w"
    )
    with pytest.raises(LabelFormatError, match="every body part needs x and y"):
        read_pose_h5(tmp_path / "noy.h5")

    cols = [("ann", "nose", "x"), ("ann", "nose", "y")]
    text = _dlc_frame(pd.Index(["img.png"]), cols, np.array([["1.5", "left"]]))
    text.to_hdf(tmp_path / "text.h5", key="df_with_missing", mode="w")
    with pytest.raises(LabelFormatError, match="nose/y holds values that are not numbers"):
        read_pose_h5(tmp_path / "text.h5")
