import numpy as np
import pytest

from core.errors import LabelFormatError
from core.labels.dlc_csv import read_pose_csv, write_pose_csv
from core.labels.table import PREDICTION_FIELDS, PoseTable
from core.smoothing.fastcsv import read_pose_file, write_pose_file


def awkward_table(n_rows=300, seed=0):
    """Every kind of finite float64 (random bits: tiny, huge, negative; zeros of both signs; round
    decimals) and NaN."""
    rng = np.random.default_rng(seed)
    values = rng.uniform(0, 640, (n_rows, 4, 3))
    values.flat[::7] = np.frombuffer(rng.bytes(8 * values[..., 0].size), np.float64)[: values.flat[::7].size]
    values.flat[::11] = np.round(values.flat[::11], 2)
    values[0, 0] = [0.0, -0.0, np.nan]
    values[1, 0] = [1.7976931348623157e308, -2.2250738585072014e-308, 5e-324]
    values[~np.isfinite(values)] = np.nan
    return PoseTable(
        [f"kp {k}" for k in range(4)], [str(i) for i in range(n_rows)], values, PREDICTION_FIELDS
    )


def same(a, b):
    return (
        a.keypoints == b.keypoints
        and a.index == b.index
        and a.fields == b.fields
        and a.scorer == b.scorer
        and np.array_equal(a.values, b.values, equal_nan=True)
    )


def test_written_floats_read_back_bit_for_bit(tmp_path):
    table = awkward_table()
    path = write_pose_file(table, tmp_path / "fast.csv")
    general = read_pose_csv(path)
    assert same(general, table)
    finite = np.isfinite(table.values)
    assert np.array_equal(np.signbit(general.values[finite]), np.signbit(table.values[finite]))
    # same header as the general writer, so every reader that took its files takes these
    write_pose_csv(table, tmp_path / "general.csv")
    assert path.read_text().splitlines()[:3] == (tmp_path / "general.csv").read_text().splitlines()[:3]


def test_plain_csv_reads_as_the_general_reader_reads_it(tmp_path):
    table = awkward_table(seed=1)
    path = write_pose_csv(table, tmp_path / "plain.csv")
    assert same(read_pose_file(path), read_pose_csv(path))


def test_other_layouts_go_to_the_general_reader_and_writer(tmp_path):
    table = awkward_table(n_rows=20, seed=2)
    # extra column and quoted index cells: the general writer, and the reader falls back to read them
    extra = PoseTable(table.keypoints, [f"img,{i}.png" for i in range(20)], table.values, table.fields)
    extra.extra["set"] = ["train"] * 20
    path = write_pose_file(extra, tmp_path / "extra.csv")
    assert path.read_bytes() == write_pose_csv(extra, tmp_path / "general.csv").read_bytes()
    back = read_pose_file(path)
    assert same(back, read_pose_csv(path)) and back.extra == {"set": ["train"] * 20}
    # a short row is an error of the general reader's, not silently padded with NaN
    lines = write_pose_csv(table, tmp_path / "short.csv").read_text().splitlines()
    lines[5] = lines[5].rsplit(",", 1)[0]
    (tmp_path / "short.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(LabelFormatError, match="line 6 has"):
        read_pose_file(tmp_path / "short.csv")


def test_long_files_with_any_frame_names_go_both_ways_exactly(tmp_path):
    """More rows than one write block and than one Arrow read chunk, names beyond ASCII, missing
    values scattered: the fast writer and reader agree with the general ones."""
    table = awkward_table(n_rows=9_000, seed=3)
    table.index[:] = [f"vidéo_{i}/img{i:05d}.png" for i in range(9_000)]
    table.values[np.random.default_rng(3).random(table.values.shape) < 0.05] = np.nan
    path = write_pose_file(table, tmp_path / "long.csv")
    assert same(read_pose_csv(path), table)
    assert same(read_pose_file(path), table)
