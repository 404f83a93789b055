"""Ensemble Kalman smoothing: combine several models' predictions of one video into one smooth
trajectory with an honest posterior variance (single camera and multi-camera)."""
