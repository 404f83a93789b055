"""The pages' Plotly figures, from the service's long tables (one row per frame, or labeled image,
and keypoint) and a training's history; every point's hover names its frame (or image, or epoch)
and keypoint. Pixels are the frames' own (px); log axes label their ticks with values."""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Mapping, Sequence

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
from PIL import Image
from plotly.subplots import make_subplots

# the columns of a prediction's traces, as rows of the trace plot, in this order
TRACE_ROWS = {
    "x": "x (px)",
    "y": "y (px)",
    "likelihood": "confidence",
    # the EKS's x/y_ens_var: the members' variance divided by their mean confidence (what the
    # smoother's observation noise is derived from), so a low confidence makes it large whatever the spread
    "x_ens_var": "x ensemble variance<br>/ mean confidence (px²)",
    "y_ens_var": "y ensemble variance<br>/ mean confidence (px²)",
    "temporal_norm": "temporal norm (px)",
    "pca_singleview_error": "Pose PCA error (px)",
    "pca_multiview_error": "multi-view PCA error (px)",
}
METRICS = {
    k: v
    for k, v in TRACE_ROWS.items()
    if k in ("temporal_norm", "pca_singleview_error", "pca_multiview_error")
}
COLORS = px.colors.qualitative.Plotly
KEYPOINT_COLORS = px.colors.qualitative.Dark24  # 24 colours: up to 24 keypoints, each its own
HOVER_IMAGE = ["image", "keypoint", "set"]
PIXEL_SUFFIX = "_px"  # a training's recorded values in frame pixels end so (core.training.callbacks)


def readable_log_ticks(figure: go.Figure) -> go.Figure:
    """Label every log axis's ticks with their values (0.5, 1, 2, 5, 10, 20), not with Plotly's
    bare leading digits between powers of ten (5, 1, 2, 5, 10, 2)."""

    def values(axis: go.layout.XAxis | go.layout.YAxis) -> None:
        if axis.type == "log":
            axis.update(tickformat="~g")

    figure.for_each_xaxis(values)
    figure.for_each_yaxis(values)
    return figure


def keypoint_colors(keypoints: Sequence[str]) -> dict[str, str]:
    """One colour per keypoint of a project, by its place in the project's list: the same keypoint
    has the same colour on every plot of a page."""
    return {k: KEYPOINT_COLORS[i % len(KEYPOINT_COLORS)] for i, k in enumerate(keypoints)}


def long_table(columns: dict[str, list]) -> pd.DataFrame:
    """A long table of the service (``columns``: name -> values) as a DataFrame."""
    return pd.DataFrame(columns)


def present(frame: pd.DataFrame, names: dict[str, str]) -> dict[str, str]:
    """The entries of ``names`` whose column in ``frame`` holds at least one value."""
    return {k: v for k, v in names.items() if k in frame and frame[k].notna().any()}


def traces_figure(
    frame: pd.DataFrame, by: str = "keypoint", colors: Mapping[str, str] | None = None
) -> go.Figure:
    """One row per quantity (``TRACE_ROWS``) against the frame, one line per ``by`` value, coloured
    by ``colors`` (``by`` value -> colour; default: in turn)."""
    rows = present(frame, TRACE_ROWS)
    figure = make_subplots(rows=len(rows), cols=1, shared_xaxes=True, vertical_spacing=0.02)
    for i, (name, group) in enumerate(frame.groupby(by, sort=False)):
        color = (colors or {}).get(name, COLORS[i % len(COLORS)])
        who = "%{customdata}" if by == "keypoint" else f"%{{customdata}} · {name}"
        for row, (column, label) in enumerate(rows.items(), 1):
            figure.add_scatter(
                x=group["frame"], y=group[column], mode="lines", name=str(name), legendgroup=str(name),
                showlegend=row == 1, line={"color": color, "width": 1.8},
                customdata=group["keypoint"],
                hovertemplate=f"frame %{{x}}<br>{who}<br>{label.replace('<br>', ' ')}: %{{y:.3g}}<extra></extra>",
                row=row, col=1,
            )  # fmt: skip
            figure.update_yaxes(title_text=label, row=row, col=1, title_font={"size": 11})
    figure.update_xaxes(title_text="frame", row=len(rows), col=1)
    figure.update_layout(
        height=100 + 150 * len(rows), margin={"l": 10, "r": 10, "t": 40, "b": 10}, hovermode="closest",
        legend={"orientation": "h", "x": 0, "y": 1, "yanchor": "bottom"},
    )  # fmt: skip
    return figure


def label_points(row: pd.Series) -> pd.DataFrame:
    """A label file's row (its columns ``(keypoint, x | y)``) as points: keypoint, x, y (px), in the
    file's keypoint order."""
    keypoints = list(dict.fromkeys(row.index.get_level_values(0)))
    return pd.DataFrame(
        {
            "keypoint": keypoints,
            "x": [row[(k, "x")] for k in keypoints],
            "y": [row[(k, "y")] for k in keypoints],
        }
    )


def frame_figure(
    image: bytes,
    points: pd.DataFrame,
    title: str,
    colors: Mapping[str, str],
    skeleton: Sequence[Sequence[str]] = (),
) -> go.Figure:
    """A frame (a PNG or JPEG file) with its keypoints, each in its colour (``colors``: keypoint ->
    colour) and named in the legend, the key to the colours; the ``skeleton``'s edges between
    keypoints that are there.

    Args:
        points: keypoint, x, y in the frame's pixels (NaN: not there), and for a prediction its
            likelihood (shown in the hover, with the title and the keypoint).
    """
    kind = Image.open(io.BytesIO(image)).format.lower()
    source = f"data:image/{kind};base64," + base64.b64encode(image).decode()
    figure = go.Figure(go.Image(source=source, hoverinfo="skip"))
    at = {row.keypoint: (row.x, row.y) for row in points.itertuples()}
    for a, b in skeleton:
        if a in at and b in at:
            figure.add_scatter(
                x=[at[a][0], at[b][0]], y=[at[a][1], at[b][1]], mode="lines",
                line={"color": "white", "width": 1}, hoverinfo="skip", showlegend=False,
            )  # fmt: skip
    for row in points.itertuples():
        likelihood = getattr(row, "likelihood", None)
        confidence = f"<br>confidence {likelihood:.2f}" if pd.notna(likelihood) else ""
        figure.add_scatter(
            x=[row.x], y=[row.y], mode="markers", name=row.keypoint,
            marker={"size": 9, "color": colors.get(row.keypoint, "white"), "line": {"width": 1, "color": "white"}},
            hovertemplate=f"{title}<br>{row.keypoint}<br>x %{{x:.1f}}, y %{{y:.1f}}{confidence}<extra></extra>",
        )  # fmt: skip
    figure.update_layout(
        title=title, height=520, margin={"l": 0, "r": 0, "t": 40, "b": 0}, showlegend=True,
        legend={"title": {"text": "keypoint"}},
    )  # fmt: skip
    return figure


def error_boxes(scores: pd.DataFrame) -> go.Figure:
    """Pixel error per keypoint, one panel per split, a box (and every point) per model."""
    figure = px.box(
        scores, x="keypoint", y="pixel_error", color="model", facet_row="set", points="all", log_y=True,
        hover_data=HOVER_IMAGE, category_orders={"set": ["train", "validation", "test"]},
        labels={"pixel_error": "pixel error (px)"},
    )  # fmt: skip
    figure.for_each_annotation(lambda a: a.update(text=a.text.replace("set=", "")))
    figure.update_layout(
        height=260 * scores["set"].nunique() + 80, margin={"l": 10, "r": 10, "t": 30, "b": 10}
    )
    return readable_log_ticks(figure)


def pair_scatter(scores: pd.DataFrame, first: str, second: str) -> go.Figure:
    """Each labeled keypoint's pixel error by ``first`` against ``second`` (log-log, the diagonal)."""
    pairs = scores.pivot_table(
        index=["image", "keypoint", "set"], columns="model", values="pixel_error"
    ).reset_index()
    pairs = pairs.dropna(subset=[first, second])
    figure = px.scatter(
        pairs, x=first, y=second, color="set", hover_data=HOVER_IMAGE, log_x=True, log_y=True,
        labels={first: f"{first}: pixel error (px)", second: f"{second}: pixel error (px)"},
    )  # fmt: skip
    if len(pairs):
        low = max(min(pairs[first].min(), pairs[second].min()), 1e-2)
        high = max(pairs[first].max(), pairs[second].max())
        figure.add_scatter(
            x=[low, high], y=[low, high], mode="lines", name="equal", line={"dash": "dot", "color": "grey"}
        )
    figure.update_layout(height=480, margin={"l": 10, "r": 10, "t": 30, "b": 10})
    return readable_log_ticks(figure)


def confidence_vs_error(scores: pd.DataFrame) -> go.Figure:
    figure = px.scatter(
        scores.dropna(subset=["pixel_error"]), x="confidence", y="pixel_error", color="model", symbol="set",
        hover_data=HOVER_IMAGE, log_y=True, labels={"pixel_error": "pixel error (px)"},
    )  # fmt: skip
    figure.update_layout(height=420, margin={"l": 10, "r": 10, "t": 30, "b": 10})
    return readable_log_ticks(figure)


def metric_distributions(traces: pd.DataFrame) -> go.Figure:
    """Each metric's distribution over frames and keypoints, a box per source (model, EKS); the
    outliers' hover names their frame and keypoint."""
    metrics = present(traces, METRICS)
    figure = make_subplots(rows=1, cols=len(metrics), subplot_titles=list(metrics.values()))
    for i, (source, group) in enumerate(traces.groupby("source", sort=False)):
        for col, column in enumerate(metrics, 1):
            figure.add_box(
                x=[source] * len(group), y=group[column], name=str(source), legendgroup=str(source),
                showlegend=col == 1, marker_color=COLORS[i % len(COLORS)], boxpoints="outliers",
                customdata=group[["frame", "keypoint"]],
                hovertemplate="frame %{customdata[0]}<br>%{customdata[1]}<br>%{y:.3g} px<extra></extra>",
                row=1, col=col,
            )  # fmt: skip
            figure.update_yaxes(type="log", row=1, col=col)
    figure.update_layout(height=420, margin={"l": 10, "r": 10, "t": 40, "b": 10})
    return readable_log_ticks(figure)


def against_members(traces: pd.DataFrame, keypoint: str, coordinate: str) -> go.Figure:
    """One keypoint's coordinate by the EKS and by each member."""
    chosen = traces[traces["keypoint"] == keypoint]
    figure = traces_figure(chosen[["source", "frame", "keypoint", coordinate]], by="source")
    figure.update_traces(line_width=1)
    figure.data[0].line.width = 3  # the EKS, listed first
    figure.update_layout(
        title=f"{keypoint}: {coordinate}, the EKS and its members",
        height=380,
        legend={"orientation": "v", "x": 1.02, "y": 1},
    )
    return figure


def training_curves(history: list[dict], title: str) -> go.Figure:
    """A training's values against the epoch, from its ``history`` (one entry per finished epoch,
    its ``losses`` by name; ``core.training.callbacks``): the losses on a log axis and, below on an
    axis of their own, the pixel errors (names ending in ``_px``, frame pixels). A value is drawn at
    the epochs that recorded it (validation values at the epochs validation ran); the hover names
    the value, its epoch and its unit."""
    names = sorted({name for entry in history for name in entry["losses"]})
    panels = [
        (label, group, axis, unit)
        for label, group, axis, unit in (
            ("loss", [n for n in names if "loss" in n], "log", ""),
            ("pixel error (px)", [n for n in names if n.endswith(PIXEL_SUFFIX)], "linear", " px"),
        )
        if group
    ]
    rows = max(1, len(panels))  # an empty panel before the first epoch ends
    figure = make_subplots(rows=rows, cols=1, shared_xaxes=True, vertical_spacing=0.08)
    for row, (label, group, axis, unit) in enumerate(panels, 1):
        for name in group:
            points = [(e["epoch"], e["losses"][name]) for e in history if name in e["losses"]]
            figure.add_scatter(
                x=[p[0] for p in points], y=[p[1] for p in points], mode="lines+markers", name=name,
                hovertemplate=f"{name}<br>epoch %{{x}}<br>%{{y:.4g}}{unit}<extra></extra>", row=row, col=1,
            )  # fmt: skip
        figure.update_yaxes(title_text=label, type=axis, row=row, col=1)
    epochs = max((e["epoch"] for e in history), default=1)
    figure.update_xaxes(dtick=math.ceil(epochs / 10))  # whole epochs, at most about ten ticks
    figure.update_xaxes(title_text="epoch", row=rows, col=1)
    figure.update_layout(title=title, height=130 + 170 * rows, margin={"l": 10, "r": 10, "t": 40, "b": 10})
    return readable_log_ticks(figure)


def rounds_curve(rounds: list[dict]) -> go.Figure:
    """Test pixel error against labeled frames, one point per trained labeling round."""
    figure = px.line(
        x=[r["labeled_frames"] for r in rounds],
        y=[r["test_px_error"] for r in rounds],
        text=[f"round {r['number']}" for r in rounds],
        markers=True,
        labels={"x": "labeled frames", "y": "test pixel error (px)"},
        title="Test error against labeled frames, by round",
    )
    return figure.update_traces(textposition="top center")
