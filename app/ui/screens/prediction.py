"""Prediction: a video with a model or an ensemble, the job live, then its labeled video, the traces
of chosen keypoints, a frame with its keypoints, and the CSV."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from app.ui import plots
from app.ui.jobs import ACTIVE, STATE_ICONS, job_card
from app.ui.media import play
from app.ui.session import api, attempt, current_project, must

PREDICTION_KINDS = ("predict", "smooth")
REFRESH_S = 2.0

client = api()
project = current_project(client)
pid = project["id"]
st.title(f"Prediction · {project['name']}")

videos = {v["id"]: v for v in must(client.videos, pid)}
models = {m["id"]: m for m in must(client.models, pid)}
ensembles = {e["id"]: e for e in must(client.ensembles, pid)}
if not videos:
    st.info("Upload a video on the Videos page first.")
    st.stop()
predictors = {
    ("ensemble", e["id"]): f"ensemble {e['name']}" for e in ensembles.values() if e["state"] == "succeeded"
}
predictors |= {("model", m["id"]): f"model {m['name']}" for m in models.values() if m["state"] == "succeeded"}

with st.form("predict"):
    left, right = st.columns(2)
    video_id = left.selectbox(
        "Video", list(videos), format_func=lambda v: f"{videos[v]['filename']} ({videos[v]['frames']} frames)"
    )
    predictor = right.selectbox(
        "Model or ensemble", list(predictors), format_func=predictors.get, placeholder="train a model first"
    )
    always_draw = st.checkbox(
        "Draw a labeled video even if the video is long",
        help="videos of up to 18,000 frames get one anyway; drawing a long one takes a while",
    )
    if st.form_submit_button("Predict", type="primary", disabled=not predictors):
        kind, row_id = predictor
        job = attempt(
            client.predict,
            pid,
            video_id,
            row_id if kind == "model" else None,
            row_id if kind == "ensemble" else None,
            True if always_draw else None,
        )
        if job is not None:
            st.session_state["prediction-job"] = job["id"]


def title(job: dict) -> str:
    video = videos.get(job["params"]["video_id"], {}).get("filename", "a deleted video")
    if job["kind"] == "smooth":
        name = f"ensemble {ensembles.get(job['params']['ensemble_id'], {}).get('name', '(deleted)')}"
    else:
        name = f"model {models.get(job['params']['model_id'], {}).get('name', '(deleted)')}"
    return f"{STATE_ICONS.get(job['state'], '')} job {job['id']}: {video} with {name}"


jobs = {
    j["id"]: j for j in must(client.jobs, pid) if j["kind"] in PREDICTION_KINDS and j["parent_id"] is None
}
if not jobs:
    st.info("No predictions yet: choose a video and a model above.")
    st.stop()
if st.session_state.get("prediction-job") not in jobs:
    st.session_state["prediction-job"] = next(iter(jobs))
job_id = st.selectbox("Prediction", list(jobs), format_func=lambda j: title(jobs[j]), key="prediction-job")
job = jobs[job_id]


@st.fragment(run_every=REFRESH_S)
def watch() -> None:
    """The running job, until it ends (then the whole page shows its results)."""
    current = must(client.job, pid, job_id)
    job_card(client, pid, current, title(current))
    if current["state"] not in ACTIVE:
        st.rerun()


if job["state"] in ACTIVE:
    watch()
    st.stop()
if job["state"] != "succeeded":
    job_card(client, pid, job, title(job))
    st.stop()

video = videos[job["params"]["video_id"]]
stem = Path(video["filename"]).stem
csv_name = f"{stem}.eks.csv" if job["kind"] == "smooth" else f"{stem}.csv"
player, downloads = st.columns([3, 1])
with player:
    if f"{stem}.labeled.mp4" in job["artifacts"]:
        play(client.labeled_video_path(pid, job_id))
    else:
        st.info("This prediction drew no labeled video; predict again with the box above ticked for one.")
with downloads:
    st.download_button(
        f"Download {csv_name}",
        lambda: client.artifact(pid, job_id, csv_name),
        file_name=csv_name,
        mime="text/csv",
        on_click="ignore",
        icon=":material/download:",
    )
    st.caption("x, y and confidence per keypoint and frame (DeepLabCut's three-row header).")

colors = plots.keypoint_colors(project["keypoints"])
keypoints = st.multiselect("Keypoints", project["keypoints"], default=project["keypoints"][:2])
if keypoints:
    traces = plots.long_table(must(client.traces, pid, job_id, keypoints)["columns"])
    st.plotly_chart(plots.traces_figure(traces, colors=colors), key=f"traces-{job_id}")

if st.session_state.get("prediction-frame", 0) >= video["frames"]:  # chosen in a longer video
    st.session_state["prediction-frame"] = 0
index = st.slider(
    "Frame", 0, video["frames"] - 1, key="prediction-frame", help="the frame shown below, from 0"
)
png = attempt(client.video_frame, pid, video["id"], int(index))
points = attempt(client.traces, pid, job_id, None, (int(index), int(index) + 1))
if png is not None and points is not None:
    frame = plots.long_table(points["columns"])
    st.plotly_chart(plots.frame_figure(png, frame, f"frame {index}", colors, project["skeleton"]))
