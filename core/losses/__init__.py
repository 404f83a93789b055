"""The training losses: the supervised heatmap loss (``supervised``) and Lightning Pose's
unsupervised losses (temporal, Pose PCA, multi-view PCA; ``unsupervised``) with their weighting and
annealing; the unsupervised losses' post-hoc counterparts, written after prediction, are
``core.predict.metrics``."""
