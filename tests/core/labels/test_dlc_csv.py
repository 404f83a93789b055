import csv
import math
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.errors import LabelFormatError
from core.labels.dlc_csv import MAX_LINE_CHARS, read_pose_csv, write_pose_csv
from core.labels.table import PoseTable
from tests.testdata import TOY

MOUSE = TOY
MOUSE_CSV = MOUSE / "CollectedData.csv"


def _write(tmp_path: Path, text: str, name: str = "labels.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_mirror_mouse_values_index_and_nans():
    table = read_pose_csv(MOUSE_CSV)
    assert table.scorer == "rick"
    assert table.fields == ("x", "y")
    assert len(table.keypoints) == 17
    assert table.keypoints[:2] == ["paw1LH_top", "paw2LF_top"]
    assert table.keypoints[-1] == "obsLow_bot"
    assert table.index[0] == "labeled-data/img01.png"
    assert len(table.index) == 90
    assert table.values.shape == (90, 17, 2)
    assert table.values[0, 0].tolist() == [77.25, 36.25]
    assert table.values[0, 1, 1] == 101.900392541708
    assert table.values[0, 16].tolist() == [74.75, 386.25]
    # img01 has no tailBase_top / tailMid_top label; img02 lacks only tailMid_top.
    assert np.isnan(table.values[0, 4:6]).all()
    assert np.isnan(table.values[1, 5]).all() and not np.isnan(table.values[1, 4]).any()

    with MOUSE_CSV.open(newline="") as f:
        rows = list(csv.reader(f))[3:]
    empty = np.array([[cell == "" for cell in row[1:]] for row in rows]).reshape(90, 17, 2)
    assert np.array_equal(np.isnan(table.values), empty)
    assert table.index == [row[0] for row in rows]


def test_mirror_mouse_rewrite_is_byte_identical(tmp_path):
    table = read_pose_csv(MOUSE_CSV)
    out = write_pose_csv(table, tmp_path / "sub" / "CollectedData.csv")
    assert out.read_bytes() == MOUSE_CSV.read_bytes()
    again = read_pose_csv(out)
    assert np.array_equal(again.values, table.values, equal_nan=True)
    assert again.index == table.index and again.keypoints == table.keypoints
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["CollectedData.csv"]  # no temp file left


def test_multi_column_index_is_joined(tmp_path):
    path = _write(
        tmp_path,
        "scorer,,,ann,ann,ann,ann\n"
        "bodyparts,,,nose,nose,tail,tail\n"
        "coords,,,x,y,x,y\n"
        "labeled-data,vid1,img001.png,1.5,2.5,,\n"
        "labeled-data,vid1,img002.png,3,4,5,6\n",
    )
    table = read_pose_csv(path)
    assert table.index == ["labeled-data/vid1/img001.png", "labeled-data/vid1/img002.png"]
    assert table.keypoints == ["nose", "tail"]
    assert table.scorer == "ann"
    assert table.values[0, 0].tolist() == [1.5, 2.5]
    assert np.isnan(table.values[0, 1]).all()
    assert table.values[1].tolist() == [[3.0, 4.0], [5.0, 6.0]]


def test_predictions_with_likelihood_and_set_column(tmp_path):
    text = (
        "scorer,lp,lp,lp,lp,lp,lp,set\n"
        "bodyparts,nose,nose,nose,tail,tail,tail,\n"
        "coords,x,y,likelihood,x,y,likelihood,\n"
        "labeled-data/img01.png,10.25,20.5,0.97,,,0.01,train\n"
        "labeled-data/img02.png,11.0,21.0,0.5,30.0,40.0,0.99,validation\n"
    )
    path = _write(tmp_path, text)
    table = read_pose_csv(path)
    assert table.fields == ("x", "y", "likelihood")
    assert table.extra == {"set": ["train", "validation"]}
    assert table.field("likelihood").tolist() == [[0.97, 0.01], [0.5, 0.99]]
    assert table.xy[0, 0].tolist() == [10.25, 20.5]
    assert np.isnan(table.xy[0, 1]).all()
    out = write_pose_csv(table, tmp_path / "out.csv")
    assert out.read_text() == text


def test_reads_a_pandas_written_lightning_pose_prediction_file(tmp_path):
    columns = pd.MultiIndex.from_product([["heatmap"], ["nose", "ear"], ["x", "y", "likelihood"]])
    columns = columns.set_names(["scorer", "bodyparts", "coords"])
    frame = pd.DataFrame(np.arange(12.0).reshape(2, 6) / 4, columns=columns)
    frame.loc[:, ("set", "", "")] = ["train", "test"]
    frame.to_csv(tmp_path / "predictions.csv")
    table = read_pose_csv(tmp_path / "predictions.csv")
    assert table.index == ["0", "1"]
    assert table.keypoints == ["nose", "ear"]
    assert table.scorer == "heatmap"
    assert table.values.reshape(2, 6).tolist() == (np.arange(12.0).reshape(2, 6) / 4).tolist()
    assert table.extra == {"set": ["train", "test"]}


def test_write_then_read_keeps_every_float_exactly(tmp_path):
    values = np.array([[[0.1 + 0.2, 1e-7], [math.pi, np.nan]]])
    table = PoseTable(["a", "b"], ["7"], values)
    again = read_pose_csv(write_pose_csv(table, tmp_path / "p.csv"))
    assert np.array_equal(again.values, values, equal_nan=True)


HEADER = "scorer,ann,ann\nbodyparts,nose,nose\ncoords,x,y\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", r"expected 3 header rows .* found 0 rows"),
        ("scorer,ann,ann\nbodyparts,nose,nose\n", "found 2 rows"),
        ("scorer,ann,ann\nparts,nose,nose\ncoords,x,y\nimg.png,1,2\n", "malformed header"),
        ("scorer,ann,ann\nbodyparts,nose\ncoords,x,y\n", r"header rows have \[3, 2, 3\] cells"),
        (
            "scorer,ann,ann,ann,ann\nindividuals,m1,m1,m2,m2\nbodyparts,nose,nose,nose,nose\n"
            "coords,x,y,x,y\nimg.png,1,2,3,4\n",
            "multi-animal",
        ),
        (HEADER + "img1.png,1,2\n\nimg2.png,3,abc\n", r"line 6, column nose/y: 'abc' is not a finite number"),
        (HEADER + "img1.png,1,inf\n", "'inf' is not a finite number"),
        (HEADER + "img1.png,1,2\nimg2.png,3\n", "line 5 has 2 cells, the header has 3"),
        ("scorer,ann,ann\nbodyparts,nose,nose\ncoords,x,x\n", "nose/x appears twice"),
        ("scorer,ann,ann\nbodyparts,nose,nose\ncoords,x,likelihood\n", "must name 'x' and 'y'"),
        ("scorer,ann,ann,ann\nbodyparts,nose,nose,tail\ncoords,x,y,x\n", r"missing \['tail/y'\]"),
        ("scorer,ann,ann,\nbodyparts,nose,nose,\ncoords,x,y,\n", "column 4 has no body part"),
        ("scorer,ann,ann\nbodyparts,nose,\ncoords,x,y\n", "column 3 has an empty body part"),
        ("scorer,set\nbodyparts,\ncoords,\n", "no keypoint columns"),
    ],
)
def test_bad_csv_raises_a_clear_error(tmp_path, text, message):
    with pytest.raises(LabelFormatError, match=message):
        read_pose_csv(_write(tmp_path, text))


def test_binary_file_is_rejected(tmp_path):
    with pytest.raises(LabelFormatError, match="is not a text CSV file"):
        read_pose_csv(MOUSE / "labeled-data" / "img01.png")
    path = tmp_path / "nul.csv"
    path.write_bytes(b"\x00\x01\xff\xfe" * 64)
    with pytest.raises(LabelFormatError, match="is not a text CSV file"):
        read_pose_csv(path)


def test_missing_file_and_directory_are_rejected(tmp_path):
    with pytest.raises(LabelFormatError, match="label file not found"):
        read_pose_csv(tmp_path / "absent.csv")
    with pytest.raises(LabelFormatError, match="cannot read label file"):
        read_pose_csv(tmp_path)


def test_index_and_extra_cells_needing_quotes_round_trip(tmp_path):
    table = PoseTable(
        ["k"],
        ["a,b", 'c"d'],
        np.array([[[1.5, np.nan, 0.25]], [[np.nan, 2.0, 1e-300]]]),
        ("x", "y", "likelihood"),
        extra={"set": ["train", "x,y"]},
    )
    back = read_pose_csv(write_pose_csv(table, tmp_path / "q.csv"))
    assert back.index == ["a,b", 'c"d'] and back.extra == {"set": ["train", "x,y"]}
    np.testing.assert_array_equal(back.values, table.values)


def test_one_endless_line_is_refused_without_reading_it_whole(tmp_path):
    path = tmp_path / "one-line.csv"
    path.write_text("123.456," * (4 * 2**20))  # 32 MiB, no line break: millions of cells
    tracemalloc.start()
    try:
        with pytest.raises(LabelFormatError, match=f"line 1 is longer than {MAX_LINE_CHARS:,} characters"):
            read_pose_csv(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 * 2**20  # the file as a list of cells would take hundreds of MB


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ('img1.png,"1,5",2\n', r"line 5, column nose/x: '1,5' is not a finite number"),
        ('img1.png,1,"2"""\n', r"line 5, column nose/y: '2\"' is not a finite number"),
        ('img1.png,1,"2\n3"\n', r"line 5, column nose/y: '2\\n3' is not a finite number"),
    ],
)
def test_cells_needing_quotes_are_named_exactly_when_not_numbers(tmp_path, row, message):
    with pytest.raises(LabelFormatError, match=message):
        read_pose_csv(_write(tmp_path, HEADER + "img0.png,1,2\n" + row))


def test_one_numeric_column_with_empty_cells(tmp_path):
    text = "scorer,ann\nbodyparts,nose\ncoords,x\nimg1.png,\nimg2.png,3\n"
    table = read_pose_csv(_write(tmp_path, text), required=("x",))
    np.testing.assert_array_equal(table.values[:, 0, 0], [np.nan, 3.0])
    with pytest.raises(LabelFormatError, match="line 6, column nose/x: 'abc'"):
        read_pose_csv(_write(tmp_path, text + "img3.png,abc\n"), required=("x",))
