"""The unsupervised losses on the real mirror-mouse labels: ~zero on consistent input, positive
exactly where a violation was planted, differentiable, batched, gated by confidence."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.losses.unsupervised import (
    PCALoss,
    TemporalLoss,
    annealing_factor,
    log_weight_factor,
)
from core.plausibility.pose_pca import fit_multiview_pca

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.gpu)]
JUMP_FRAME, JUMP_KEYPOINT = 30, 2  # paw3RF_top
PAW, PAW_BOTTOM = "paw2LF_top", "paw2LF_bot"


def as_tensor(array: np.ndarray, device: str = "cpu", grad: bool = False) -> torch.Tensor:
    return torch.tensor(array, dtype=torch.float32, device=device, requires_grad=grad)


# --- temporal -------------------------------------------------------------------------------------


@pytest.mark.parametrize("device", DEVICES)
def test_temporal_loss_is_zero_on_a_smooth_trajectory_and_flags_a_jump(trajectory, device):
    loss = TemporalLoss()
    smooth = loss(as_tensor(trajectory, device), torch.ones(trajectory.shape[:2], device=device))
    assert smooth.value.item() == 0.0 and smooth.per_keypoint.shape == (len(trajectory) - 1, 17)
    assert smooth.value.device.type == device

    jumped = trajectory.copy()
    jumped[JUMP_FRAME, JUMP_KEYPOINT, 0] += 50.0  # pixels, well beyond the 4 px steps
    move_in = np.linalg.norm(jumped[JUMP_FRAME, JUMP_KEYPOINT] - jumped[JUMP_FRAME - 1, JUMP_KEYPOINT])
    move_out = np.linalg.norm(jumped[JUMP_FRAME + 1, JUMP_KEYPOINT] - jumped[JUMP_FRAME, JUMP_KEYPOINT])
    term = loss(as_tensor(jumped, device)).per_keypoint.cpu().numpy()
    assert term[JUMP_FRAME - 1, JUMP_KEYPOINT] == pytest.approx(move_in - 20.0, abs=1e-3)
    assert term[JUMP_FRAME, JUMP_KEYPOINT] == pytest.approx(move_out - 20.0, abs=1e-3)
    assert 25.0 < term[JUMP_FRAME, JUMP_KEYPOINT] < 35.0
    others = np.ones(term.shape, dtype=bool)
    others[[JUMP_FRAME - 1, JUMP_FRAME], JUMP_KEYPOINT] = False
    assert (term[others] == 0).all()
    assert loss(as_tensor(jumped, device)).value.item() == pytest.approx(term.sum() / term.size, rel=1e-5)


def test_temporal_epsilon_is_configurable(trajectory):
    xy = as_tensor(trajectory)
    assert TemporalLoss(epsilon=1.0)(xy).value.item() > 0.5  # the walk moves up to 4 px per frame
    assert TemporalLoss(epsilon=0.0)(xy).value.item() == pytest.approx(
        np.linalg.norm(np.diff(trajectory, axis=0), axis=-1).mean(), rel=1e-5
    )


def test_temporal_loss_skips_transitions_from_or_to_an_unconfident_frame(trajectory):
    jumped = trajectory.copy()
    jumped[JUMP_FRAME, JUMP_KEYPOINT] += [80.0, 0.0]
    confidence = np.full(trajectory.shape[:2], 0.9)
    confidence[JUMP_FRAME, JUMP_KEYPOINT] = 0.01  # the network said it did not see the paw
    term = TemporalLoss()(as_tensor(jumped), as_tensor(confidence))
    assert term.value.item() == 0.0 and (term.per_keypoint == 0).all()
    confidence[JUMP_FRAME, JUMP_KEYPOINT] = 0.05  # at the threshold it counts again
    term = TemporalLoss()(as_tensor(jumped), as_tensor(confidence))
    assert term.per_keypoint[JUMP_FRAME, JUMP_KEYPOINT] > 50
    # the mean is over the transitions that count, so skipped ones do not dilute it
    confidence[:] = 0.9
    confidence[:, 5:] = 0.0
    only = TemporalLoss()(as_tensor(jumped), as_tensor(confidence))
    counted = only.per_keypoint[:, :5]
    assert only.value.item() == pytest.approx(counted.mean().item(), rel=1e-6)


def test_temporal_loss_is_never_nan_when_nothing_counts(trajectory):
    one_frame = TemporalLoss()(as_tensor(trajectory[:1]))
    assert one_frame.value.item() == 0.0 and one_frame.per_keypoint.shape == (0, 17)
    unseen = TemporalLoss()(as_tensor(trajectory), torch.zeros(trajectory.shape[:2]))
    assert unseen.value.item() == 0.0


def test_temporal_loss_is_batched_over_runs(trajectory):
    runs = np.stack([trajectory[:20], trajectory[20:40] + [5.0, 0.0], trajectory[40:60]])
    runs[1, 10, 4] += [0.0, 60.0]  # a jump in the second run only
    batch = TemporalLoss()(as_tensor(runs))
    assert batch.per_keypoint.shape == (3, 19, 17)
    for run, per_keypoint in zip(runs, batch.per_keypoint, strict=True):
        torch.testing.assert_close(per_keypoint, TemporalLoss()(as_tensor(run)).per_keypoint)
    assert batch.per_keypoint[0].sum() == 0 and batch.per_keypoint[2].sum() == 0
    assert batch.per_keypoint[1, 9, 4] > 30 and batch.per_keypoint[1, 10, 4] > 30
    # no transition across runs: the offset between runs 0 and 1 is not a jump
    assert batch.value.item() == pytest.approx(batch.per_keypoint.sum().item() / (3 * 19 * 17), rel=1e-6)


def test_temporal_gradient_pulls_the_jumped_keypoint_back(trajectory):
    jumped = trajectory.copy()
    jumped[JUMP_FRAME, JUMP_KEYPOINT, 0] += 50.0
    xy = as_tensor(jumped, grad=True)
    TemporalLoss()(xy).value.backward()
    grad = xy.grad.numpy()
    assert np.isfinite(grad).all()
    assert grad[JUMP_FRAME, JUMP_KEYPOINT, 0] > 0  # descending moves it back (-x)
    moved = np.zeros(grad.shape[:2], dtype=bool)
    moved[JUMP_FRAME - 1 : JUMP_FRAME + 2, JUMP_KEYPOINT] = True
    assert (grad[~moved] == 0).all() and (np.abs(grad[moved]).sum(-1) > 0).all()


def test_gradient_is_finite_where_a_keypoint_did_not_move():
    still = torch.full((5, 3, 2), 100.0, requires_grad=True)
    term = TemporalLoss(epsilon=0.0)(still)
    term.value.backward()
    assert term.value.item() == 0.0 and torch.isfinite(still.grad).all()


# --- Pose PCA ---------------------------------------------------------------------------------------


def pose_loss(project, pca) -> PCALoss:
    return PCALoss(pca, project.index_of(pca.keypoints))


@pytest.mark.parametrize("device", DEVICES)
def test_pose_pca_loss_is_about_zero_on_the_real_labels(project, pose_pca, complete_poses, device):
    loss = pose_loss(project, pose_pca).to(device)
    term = loss(as_tensor(complete_poses, device))
    assert term.per_keypoint.shape == (len(complete_poses), len(project.pca_keypoints))
    assert term.value.device.type == device
    # epsilon is the labels' own 99th-percentile error: at most ~1 % of entries exceed it, slightly
    assert term.value.item() < 0.1  # pixels
    assert (term.per_keypoint > 0).float().mean().item() <= 0.03


def test_pose_pca_loss_on_a_smooth_walk_through_real_poses_is_about_zero(project, pose_pca, trajectory):
    term = pose_loss(project, pose_pca)(as_tensor(trajectory))
    assert term.value.item() < 0.2


def test_pose_pca_loss_flags_a_paw_moved_far_from_the_body(project, pose_pca, complete_poses):
    poses = complete_poses[:10].copy()
    poses[:, project.keypoints.index(PAW)] += [-100.0, 0.0]  # 100 px behind where it was
    loss = pose_loss(project, pose_pca)
    term = loss(as_tensor(poses))
    paw = pose_pca.keypoints.index(PAW)
    assert (term.per_keypoint[:, paw] > 25).all()  # pixels beyond epsilon, in every frame
    assert term.value.item() > 50 * loss(as_tensor(complete_poses[:10])).value.item()
    # the PCA loss is the numpy reconstruction error beyond epsilon
    errors = pose_pca.errors(poses[:, project.index_of(pose_pca.keypoints)])
    np.testing.assert_allclose(
        term.per_keypoint.numpy(), np.maximum(errors - pose_pca.error_p99, 0), atol=1e-3
    )


def test_pca_gradient_step_makes_the_impossible_pose_more_plausible(project, pose_pca, complete_poses):
    poses = complete_poses[:10].copy()
    poses[:, project.keypoints.index(PAW)] += [-100.0, 0.0]
    xy = as_tensor(poses, grad=True)
    loss = pose_loss(project, pose_pca)
    before = loss(xy).per_keypoint.sum()  # summed, so that a unit step moves a keypoint ~1 px
    before.backward()
    assert torch.isfinite(xy.grad).all()
    unused = [k for k, name in enumerate(project.keypoints) if name not in pose_pca.keypoints]
    assert (xy.grad[:, unused] == 0).all()  # obs_top, obsHigh_bot, obsLow_bot
    assert xy.grad[:, project.keypoints.index(PAW), 0].lt(-0.5).all()  # descent moves the paw back (+x)
    after = loss(xy.detach() - 10.0 * xy.grad).per_keypoint.sum()
    assert after.item() < 0.8 * before.item()


def test_pca_loss_keeps_batch_dimensions(project, pose_pca, complete_poses):
    runs = np.stack([complete_poses[:8], complete_poses[8:16]])  # (B=2, T=8, 17, 2)
    term = pose_loss(project, pose_pca)(as_tensor(runs))
    assert term.per_keypoint.shape == (2, 8, 14)
    flat = pose_loss(project, pose_pca)(as_tensor(runs.reshape(16, 17, 2)))
    torch.testing.assert_close(term.per_keypoint.reshape(16, 14), flat.per_keypoint)


# --- multi-view PCA ---------------------------------------------------------------------------------


@pytest.mark.parametrize("device", DEVICES)
def test_multiview_loss_is_about_zero_on_labels_and_flags_a_view_disagreement(
    project, multiview_pca, complete_poses, device
):
    loss = pose_loss(project, multiview_pca).to(device)
    consistent = loss(as_tensor(complete_poses, device))
    assert consistent.per_keypoint.shape == (len(complete_poses), 14)
    assert consistent.value.item() < 0.05
    assert (consistent.per_keypoint > 0).float().mean().item() <= 0.03

    poses = complete_poses[:10].copy()
    poses[:, project.keypoints.index(PAW_BOTTOM), 0] += 60.0  # bottom view's paw off its top partner in x
    term = loss(as_tensor(poses, device)).per_keypoint.cpu().numpy()
    paw_top, paw_bottom = multiview_pca.keypoints.index(PAW), multiview_pca.keypoints.index(PAW_BOTTOM)
    # two views cannot tell which one is wrong: the disagreement is shared by both
    assert (term[:, paw_top] > 15).all() and (term[:, paw_bottom] > 15).all()
    others = np.delete(term, [paw_top, paw_bottom], axis=1)
    assert others.max() < 2.0  # pixels


def test_multiview_loss_ignores_motion_both_views_agree_on(project, multiview_pca, complete_poses):
    loss = pose_loss(project, multiview_pca)
    poses = complete_poses[:10].copy()
    moved = poses.copy()
    moved[:, project.index_of(multiview_pca.keypoints), 0] += 30.0  # the mouse moved along the x axis
    difference = loss(as_tensor(moved)).per_keypoint - loss(as_tensor(poses)).per_keypoint
    assert difference.abs().max().item() < 2.0
    disagreeing = poses.copy()
    disagreeing[:, project.keypoints.index(PAW_BOTTOM), 0] += 30.0
    assert loss(as_tensor(disagreeing)).value.item() > 20 * loss(as_tensor(poses)).value.item()


def test_multiview_loss_for_separate_cameras_takes_the_views_stacked(project, multiview_pca, labels):
    """Two 'cameras' holding the top and bottom labels: the same fit and loss as the mirrored project."""
    top, bottom = (labels.select_keypoints(names).xy for names in project.view_matches)
    parts = [name.removesuffix("_top") for name in project.view_matches[0]]
    cameras = fit_multiview_pca([top, bottom], [parts, parts])
    np.testing.assert_allclose(cameras.error_p99, multiview_pca.error_p99)
    predictions = np.stack([top, bottom], axis=1)[:12]  # (B, V, P, 2) per-camera predictions
    predictions = predictions[np.isfinite(predictions).all(axis=(1, 2, 3))]
    predictions[:, 1, 1, 0] += 60.0  # camera 2 sees paw2LF 60 px off
    term = PCALoss(cameras)(as_tensor(predictions).flatten(1, 2))
    stacked = np.concatenate([predictions[:, 0], predictions[:, 1]], axis=1)  # the mirrored fit's keypoints
    torch.testing.assert_close(term.per_keypoint, PCALoss(multiview_pca)(as_tensor(stacked)).per_keypoint)
    assert (term.per_keypoint[:, [1, 8]] > 15).all()


def test_pca_loss_checks_its_columns(multiview_pca):
    with pytest.raises(ValueError, match="columns names 3 keypoints, the PCA uses 14"):
        PCALoss(multiview_pca, [0, 1, 2])


def test_pca_buffers_follow_the_module_but_stay_out_of_checkpoints(pose_pca):
    loss = PCALoss(pose_pca).double()
    assert loss.components.dtype == torch.float64
    assert loss.state_dict() == {}


# --- weighting and annealing ------------------------------------------------------------------------


def test_log_weight_factor_is_lightning_poses_weighting():
    assert log_weight_factor(0.0) == 0.5
    assert log_weight_factor(5.0) == pytest.approx(1 / (2 * np.exp(5.0)))
    assert log_weight_factor(-1.0) > log_weight_factor(1.0)


def test_annealing_is_zero_until_the_start_epoch_then_grows_to_one():
    assert [annealing_factor(e) for e in (0, 59, 60)] == [0.0, 0.0, 0.0]
    assert annealing_factor(61) == pytest.approx(0.01)
    assert annealing_factor(110) == pytest.approx(0.5)
    assert annealing_factor(160) == 1.0 and annealing_factor(400) == 1.0
    assert annealing_factor(3, start_epoch=2, increase_per_epoch=0.25) == 0.25
    assert annealing_factor(0, start_epoch=0, increase_per_epoch=0.25) == 0.0
