"""Compare in FiftyOne: build the project's comparison datasets from chosen models, ensembles and
predicted videos, then open them (and their saved views) in FiftyOne, through posecloud."""

from __future__ import annotations

import streamlit as st

from app.ui.client import ApiError
from app.ui.jobs import ACTIVE, job_card
from app.ui.session import api, attempt, current_project, must

REFRESH_S = 3.0
PREDICTION_KINDS = ("predict", "smooth")

client = api()
project = current_project(client)
pid = project["id"]
st.title(f"Compare in FiftyOne · {project['name']}")

models = {
    m["id"]: m for m in must(client.models, pid) if m["state"] == "succeeded" and m["ensemble_id"] is None
}
ensembles = {e["id"]: e for e in must(client.ensembles, pid) if e["state"] == "succeeded"}
jobs = must(client.jobs, pid)
videos = {v["id"]: v["filename"] for v in must(client.videos, pid)}
predictions = {
    j["id"]: j
    for j in jobs
    if j["kind"] in PREDICTION_KINDS and j["parent_id"] is None and j["state"] == "succeeded"
}


def prediction_name(job_id: int) -> str:
    job = predictions[job_id]
    what = "ensemble (EKS)" if job["kind"] == "smooth" else "model"
    return f"job {job_id}: {videos.get(job['params'].get('video_id'), 'a video')} by {what}"


with st.form("compare"):
    st.write(
        "Labeled frames with the ground truth and each chosen model's keypoints; predicted videos with each model's."
    )
    chosen_models = st.multiselect("Models", list(models), format_func=lambda i: models[i]["name"])
    chosen_ensembles = st.multiselect(
        "Ensembles (every member)", list(ensembles), format_func=lambda i: ensembles[i]["name"]
    )
    chosen_predictions = st.multiselect("Predicted videos", list(predictions), format_func=prediction_name)
    if st.form_submit_button("Build the comparison", type="primary"):
        job = attempt(client.build_comparison, pid, chosen_models, chosen_ensembles, chosen_predictions)
        if job is not None:
            st.success(f"Building the comparison (job {job['id']}).")


@st.fragment(run_every=REFRESH_S)
def builds_and_links() -> None:
    builds = [j for j in attempt(client.jobs, pid) or [] if j["kind"] == "fiftyone"]
    for job in builds[:3]:
        job_card(client, pid, job, "comparison")
    if any(j["state"] in ACTIVE for j in builds):
        return
    try:
        comparison = client.comparison(pid)
    except ApiError as e:
        st.info(e.detail)
        return
    for dataset in comparison["datasets"]:
        st.subheader(dataset["name"])
        st.link_button(f"Open {dataset['name']} in FiftyOne ↗", dataset["url"], type="primary")
        for view in dataset["views"]:
            st.markdown(f"- [{view['name']}]({view['url']})")


builds_and_links()
