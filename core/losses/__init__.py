"""Lightning Pose's unsupervised losses (temporal, Pose PCA, multi-view PCA) with their weighting and
annealing; their post-hoc counterparts, written after prediction, are ``core.predict.metrics``."""
