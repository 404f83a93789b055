"""The results pages' Plotly figures, from the service's long tables (one row per frame, or labeled
image, and keypoint); every point's hover names its frame (or image) and keypoint."""

from __future__ import annotations

import base64

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
from plotly.subplots import make_subplots

# the columns of a prediction's traces, as rows of the trace plot, in this order
TRACE_ROWS = {
    "x": "x (px)",
    "y": "y (px)",
    "likelihood": "confidence",
    "x_ens_var": "x ensemble variance (px²)",
    "y_ens_var": "y ensemble variance (px²)",
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
HOVER_IMAGE = ["image", "keypoint", "set"]


def long_table(columns: dict[str, list]) -> pd.DataFrame:
    """A long table of the service (``columns``: name -> values) as a DataFrame."""
    return pd.DataFrame(columns)


def present(frame: pd.DataFrame, names: dict[str, str]) -> dict[str, str]:
    """The entries of ``names`` whose column in ``frame`` holds at least one value."""
    return {k: v for k, v in names.items() if k in frame and frame[k].notna().any()}


def traces_figure(frame: pd.DataFrame, by: str = "keypoint") -> go.Figure:
    """One row per quantity (``TRACE_ROWS``) against the frame, one line per ``by`` value."""
    rows = present(frame, TRACE_ROWS)
    figure = make_subplots(rows=len(rows), cols=1, shared_xaxes=True, vertical_spacing=0.02)
    for i, (name, group) in enumerate(frame.groupby(by, sort=False)):
        color = COLORS[i % len(COLORS)]
        who = "%{customdata}" if by == "keypoint" else f"%{{customdata}} · {name}"
        for row, (column, label) in enumerate(rows.items(), 1):
            figure.add_scatter(
                x=group["frame"], y=group[column], mode="lines", name=str(name), legendgroup=str(name),
                showlegend=row == 1, line={"color": color, "width": 1.8},
                customdata=group["keypoint"],
                hovertemplate=f"frame %{{x}}<br>{who}<br>{label}: %{{y:.3g}}<extra></extra>",
                row=row, col=1,
            )  # fmt: skip
            figure.update_yaxes(title_text=label, row=row, col=1, title_font={"size": 11})
    figure.update_xaxes(title_text="frame", row=len(rows), col=1)
    figure.update_layout(
        height=100 + 150 * len(rows), margin={"l": 10, "r": 10, "t": 40, "b": 10}, hovermode="closest",
        legend={"orientation": "h", "x": 0, "y": 1, "yanchor": "bottom"},
    )  # fmt: skip
    return figure


def frame_figure(png: bytes, points: pd.DataFrame, index: int) -> go.Figure:
    """The video frame with each keypoint (confidence in the hover)."""
    figure = go.Figure(
        go.Image(source="data:image/png;base64," + base64.b64encode(png).decode(), hoverinfo="skip")
    )
    for i, row in enumerate(points.itertuples()):
        figure.add_scatter(
            x=[row.x], y=[row.y], mode="markers", name=row.keypoint,
            marker={"size": 9, "color": COLORS[i % len(COLORS)], "line": {"width": 1, "color": "white"}},
            hovertemplate=f"frame {index}<br>{row.keypoint}<br>x %{{x:.1f}}, y %{{y:.1f}}"
            f"<br>confidence {row.likelihood:.2f}<extra></extra>",
        )  # fmt: skip
    figure.update_layout(margin={"l": 0, "r": 0, "t": 30, "b": 0}, title=f"frame {index}", height=520)
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
    return figure


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
    return figure


def confidence_vs_error(scores: pd.DataFrame) -> go.Figure:
    figure = px.scatter(
        scores.dropna(subset=["pixel_error"]), x="confidence", y="pixel_error", color="model", symbol="set",
        hover_data=HOVER_IMAGE, log_y=True, labels={"pixel_error": "pixel error (px)"},
    )  # fmt: skip
    figure.update_layout(height=420, margin={"l": 10, "r": 10, "t": 30, "b": 10})
    return figure


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
    return figure


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
