"""How plausible keypoints are without labels: motion continuity (``temporal``: the temporal norm)
and posture (``pose_pca``: Pose PCA and multi-view PCA reconstruction errors). The unsupervised
losses, the metrics written after prediction and frame selection build on them. Label quality
control (``label_qc``) judges labeled frames the same way, against the project's other labels."""
