"""Lightning Pose's unsupervised losses (temporal, Pose PCA, multi-view PCA) with their weighting and
annealing (``unsupervised``), and the matching per frame x keypoint metrics written after
prediction (``metrics``)."""
