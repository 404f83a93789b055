"""Frames worth labeling: outlier scores from ensemble predictions, diverse picks, the
``suggest-frames`` command."""
