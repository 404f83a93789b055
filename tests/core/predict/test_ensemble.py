import shutil

import numpy as np
import pytest

from core.cli import main
from core.errors import PoseCloudError
from core.labels.dlc_csv import read_pose_csv
from core.predict.ensemble import resolve_members
from core.predict.pipeline import predict_with_ensemble_session
from core.smoothing.io import SMOOTHED_FIELDS, read_smoothed


def test_ensemble_prediction_smooths_the_members(ensemble_dir, toy_clip, tmp_path):
    assert [p.name for p in resolve_members(ensemble_dir)] == ["seed1", "seed2"]
    assert main(["predict", str(ensemble_dir), str(toy_clip), "-o", str(tmp_path)]) == 0
    members = [read_pose_csv(tmp_path / name / "clip.csv") for name in ("seed1", "seed2")]
    eks = read_smoothed(tmp_path / "clip.eks.csv")
    assert eks.fields == SMOOTHED_FIELDS and eks.values.shape == (40, 17, 9)
    median = np.median(np.stack([m.xy for m in members]), axis=0)
    np.testing.assert_allclose(eks.values[..., 3:5], median, atol=1e-6)
    assert np.isfinite(eks.xy).all() and (eks.values[..., 7:9] > 0).all()

    def jitter(xy):
        return np.nanmean(np.linalg.norm(np.diff(xy, axis=0), axis=-1))

    assert jitter(eks.xy) < jitter(median)


def test_members_joined_by_commas(ensemble_dir, tiny_model):
    members = resolve_members(f"{ensemble_dir / 'seed1'},{tiny_model}")
    assert members == [ensemble_dir / "seed1", tiny_model]
    with pytest.raises(PoseCloudError, match="not a posecloud model folder"):
        resolve_members(f"{ensemble_dir / 'seed1'},{ensemble_dir}")
    with pytest.raises(PoseCloudError, match="neither a model folder nor an ensemble"):
        resolve_members(ensemble_dir / "nothing")


def test_members_with_the_same_folder_name_are_refused(ensemble_dir, tmp_path, toy_clip):
    twin = tmp_path / "other" / "seed1"
    shutil.copytree(ensemble_dir / "seed1", twin)
    with pytest.raises(PoseCloudError, match="distinct folder names"):
        predict_with_ensemble_session([ensemble_dir / "seed1", twin], [toy_clip], tmp_path / "out")
    assert not (tmp_path / "out").exists()
