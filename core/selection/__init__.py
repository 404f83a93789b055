"""Frames worth labeling: outlier scores from ensemble predictions, diverse picks, the
``suggest-frames`` command."""

MIN_GAP = 10
"""Fewest frames between two picks (the command's default; here so that ``posecloud --help`` does
not load the scoring's scipy)."""
