"""Diagnostics: the trained models on their labeled frames (pixel error per keypoint and split, two
models frame by frame, confidence against error) and on a video (temporal norm and PCA error per
model, the EKS against its members)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app.ui import plots
from app.ui.session import api, current_project, must

PREDICTION_KINDS = ("predict", "smooth")
SHOWN_MODELS = 6  # chosen at first, of the newest

client = api()
project = current_project(client)
pid = project["id"]
st.title(f"Diagnostics · {project['name']}")

trained = {m["name"]: m for m in must(client.models, pid) if m["state"] == "succeeded"}
if not trained:
    st.info("No trained models yet: train one on the Training page.")
    st.stop()

st.header("Labeled frames")
names = st.multiselect("Models", list(trained), default=list(trained)[-SHOWN_MODELS:])
if names:
    scores = pd.concat(
        plots.long_table(must(client.labeled_frame_scores, pid, trained[n]["id"])["columns"]).assign(model=n)
        for n in names
    ).reset_index(drop=True)
    st.subheader("Pixel error per keypoint and split")
    st.plotly_chart(plots.error_boxes(scores), key="error-boxes")
    if len(names) >= 2:
        st.subheader("Two models, keypoint by keypoint")
        left, right = st.columns(2)
        first = left.selectbox("x axis", names, index=0)
        second = right.selectbox("y axis", names, index=1)
        st.plotly_chart(plots.pair_scatter(scores, first, second), key="pair-scatter")
    st.subheader("Confidence against pixel error")
    st.plotly_chart(plots.confidence_vs_error(scores), key="confidence-error")

st.header("Videos")
videos = {v["id"]: v["filename"] for v in must(client.videos, pid)}
predictions = [
    j
    for j in must(client.jobs, pid)
    if j["kind"] in PREDICTION_KINDS and j["parent_id"] is None and j["state"] == "succeeded"
]
if not predictions:
    st.info("No finished predictions yet: predict a video on the Prediction page.")
    st.stop()
predicted = sorted({j["params"]["video_id"] for j in predictions} & set(videos))
video_id = st.selectbox("Video", predicted, format_func=videos.get)
jobs = {j["id"]: j for j in predictions if j["params"]["video_id"] == video_id}
traces = pd.concat(
    plots.long_table(must(client.traces, pid, job_id, members=True)["columns"]).assign(job=job_id)
    for job_id in jobs
).reset_index(drop=True)
repeated = traces.groupby("source")["job"].transform("nunique") > 1
traces.loc[repeated, "source"] += " (job " + traces.loc[repeated, "job"].astype(str) + ")"
st.subheader("Temporal norm and PCA errors per model")
st.plotly_chart(plots.metric_distributions(traces), key="metric-distributions")

ensembles = [job_id for job_id, j in jobs.items() if j["kind"] == "smooth"]
if ensembles:
    st.subheader("The EKS against its members")
    left, middle, right = st.columns(3)
    job_id = left.selectbox("Ensemble prediction", ensembles, format_func=lambda j: f"job {j}")
    keypoint = middle.selectbox("Keypoint", project["keypoints"])
    coordinate = right.selectbox("Coordinate", ["x", "y"])
    chosen = traces[traces["job"] == job_id]
    st.plotly_chart(plots.against_members(chosen, keypoint, coordinate), key="against-members")
