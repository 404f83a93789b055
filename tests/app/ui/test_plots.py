"""The pages' figures: units on the axes, log ticks that read as values, a training's curves, the
keypoints' colours named in a frame's legend."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from app.ui import plots

HISTORY = [  # validation every second epoch; the first record of a run from before the units
    {"epoch": 1, "step": 9, "losses": {"train_loss": 0.05, "val_pixel_error": 5.6}},
    {"epoch": 2, "step": 18, "losses": {"train_loss": 0.04, "val_loss": 0.03, "val_pixel_error_px": 44.8}},
    {"epoch": 3, "step": 27, "losses": {"train_loss": 0.02}},
    {"epoch": 4, "step": 36, "losses": {"train_loss": 0.01, "val_loss": 0.02, "val_pixel_error_px": 22.7}},
]


def test_training_curves_put_pixel_errors_on_their_own_axis_at_the_validated_epochs_only() -> None:
    figure = plots.training_curves(HISTORY, "job 7")
    traces = {t.name: t for t in figure.data}
    assert set(traces) == {"train_loss", "val_loss", "val_pixel_error_px"}  # no unitless pixel error
    assert list(traces["train_loss"].x) == [1, 2, 3, 4]
    assert list(traces["val_loss"].x) == [2, 4]
    error = traces["val_pixel_error_px"]
    assert (list(error.x), list(error.y)) == ([2, 4], [44.8, 22.7])
    assert {traces["train_loss"].yaxis, traces["val_loss"].yaxis} == {"y"} and error.yaxis == "y2"
    layout = figure.layout
    assert (layout.yaxis.title.text, layout.yaxis.type, layout.yaxis.tickformat) == ("loss", "log", "~g")
    assert (layout.yaxis2.title.text, layout.yaxis2.type) == ("pixel error (px)", "linear")
    assert error.hovertemplate == "val_pixel_error_px<br>epoch %{x}<br>%{y:.4g} px<extra></extra>"
    assert traces["val_loss"].hovertemplate == "val_loss<br>epoch %{x}<br>%{y:.4g}<extra></extra>"


def test_training_curves_of_losses_alone_and_of_nothing_yet() -> None:
    figure = plots.training_curves([{"epoch": 1, "step": 9, "losses": {"train_loss": 0.05}}], "job 7")
    assert [t.name for t in figure.data] == ["train_loss"] and "yaxis2" not in figure.layout
    assert plots.training_curves([], "job 7").data == ()


@pytest.fixture
def scores() -> pd.DataFrame:
    """Two models' labeled-frame scores, long: image, keypoint, set, pixel error, confidence."""
    rng = np.random.default_rng(0)
    rows = [
        {"image": f"img{i}.png", "keypoint": k, "set": s, "model": m}
        for i, s in enumerate(["train", "validation", "test"])
        for k in ("nose", "tail")
        for m in ("a", "b")
    ]
    return pd.DataFrame(rows).assign(
        pixel_error=rng.uniform(0.5, 80, len(rows)), confidence=rng.uniform(0, 1, len(rows))
    )


def test_every_log_axis_labels_its_ticks_with_values(scores) -> None:
    traces = pd.DataFrame(
        {
            "source": ["m"] * 4,
            "frame": [0, 1, 0, 1],
            "keypoint": ["nose", "nose", "tail", "tail"],
            "temporal_norm": [np.nan, 3.0, np.nan, 0.4],
            "pca_singleview_error": [1.0, 12.0, 0.2, 5.0],
        }
    )
    figures = [
        plots.error_boxes(scores),
        plots.pair_scatter(scores, "a", "b"),
        plots.confidence_vs_error(scores),
        plots.metric_distributions(traces),
    ]
    for figure in figures:
        axes = [a for a in [*figure.select_xaxes(), *figure.select_yaxes()] if a.type == "log"]
        assert axes and all(a.tickformat == "~g" for a in axes), figure.layout
    assert len([a for a in figures[0].select_yaxes() if a.type == "log"]) == 3  # a panel per split


def test_the_ensembles_variance_is_named_for_what_it_is() -> None:
    frame = pd.DataFrame(
        {"frame": [0, 1], "keypoint": ["nose", "nose"], "x": [10.0, 11.0], "x_ens_var": [4.0, 800_000.0]}
    )
    figure = plots.traces_figure(frame)
    assert figure.layout.yaxis2.title.text == "x ensemble variance<br>/ mean confidence (px²)"
    variance = figure.data[1]
    assert list(variance.y) == [4.0, 800_000.0]  # the EKS's column as it is
    assert "x ensemble variance / mean confidence (px²): %{y:.3g}" in variance.hovertemplate


def png(width: int = 8, height: int = 6, kind: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), "grey").save(buffer, format=kind)
    return buffer.getvalue()


def test_a_frames_legend_names_each_keypoints_colour() -> None:
    colors = plots.keypoint_colors(["nose", "ear", "tail"])
    assert len(set(colors.values())) == 3
    points = pd.DataFrame(
        {"keypoint": ["nose", "ear", "tail"], "x": [1.0, np.nan, 5.0], "y": [2.0, np.nan, 4.0],
         "likelihood": [0.9, 0.1, 0.5]}
    )  # fmt: skip
    figure = plots.frame_figure(png(), points, "frame 3", colors, [["nose", "tail"], ["nose", "ear"]])
    image, *drawn = figure.data
    assert image.source.startswith("data:image/png;base64,")
    edges = [t for t in drawn if t.mode == "lines"]
    assert len(edges) == 2 and not any(t.showlegend for t in edges)  # nose-ear ends at NaN: not drawn
    keypoints = [t for t in drawn if t.mode == "markers"]
    assert [(t.name, t.marker.color) for t in keypoints] == list(colors.items())
    assert figure.layout.showlegend and figure.layout.legend.title.text == "keypoint"
    assert keypoints[0].hovertemplate.startswith(
        "frame 3<br>nose<br>x %{x:.1f}, y %{y:.1f}<br>confidence 0.90"
    )


def test_a_labeled_frames_points_in_the_label_files_order() -> None:
    columns = pd.MultiIndex.from_product([["tail", "nose"], ["x", "y"]])
    row = pd.Series([5.0, 4.0, np.nan, np.nan], index=columns)
    points = plots.label_points(row)
    assert points["keypoint"].tolist() == ["tail", "nose"]
    assert points[["x", "y"]].iloc[0].tolist() == [5.0, 4.0] and points[["x", "y"]].iloc[1].isna().all()
    figure = plots.frame_figure(
        png(kind="JPEG"), points, "img01.jpg", plots.keypoint_colors(["nose", "tail"])
    )
    assert figure.data[0].source.startswith("data:image/jpeg;base64,")
    assert "confidence" not in figure.data[1].hovertemplate
