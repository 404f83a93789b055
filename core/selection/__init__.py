"""Frames worth labeling: outlier scores from ensemble predictions, diverse picks, frame extraction."""
