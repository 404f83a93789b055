"""Compare in FiftyOne: build the project's comparison datasets from chosen models, ensembles and
predicted videos, then open them (and their saved views) in FiftyOne, through posecloud."""

from __future__ import annotations

import streamlit as st

from app.client import ApiError
from app.ui.jobs import ACTIVE, job_card
from app.ui.session import api, attempt, current_project, must
from app.ui.wording import no_models_reason

REFRESH_S = 3.0
PREDICTION_KINDS = ("predict", "smooth")
NO_COMPARISON = (
    "No comparison yet: choose models, ensembles or predicted videos above, then Build the comparison."
)
NO_ENSEMBLES = "no trained ensembles yet: train one on the Training page"
NO_PREDICTIONS = "no finished predictions yet: predict a video on the Prediction page"

client = api()
project = current_project(client)
pid = project["id"]
st.title(f"Compare in FiftyOne · {project['name']}")

trained = [m for m in must(client.models, pid) if m["state"] == "succeeded"]
models = {m["id"]: m for m in trained if m["ensemble_id"] is None}
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
    chosen_models = st.multiselect(
        "Models",
        list(models),
        format_func=lambda i: models[i]["name"],
        placeholder=None if models else no_models_reason(trained),
    )
    chosen_ensembles = st.multiselect(
        "Ensembles (every member)",
        list(ensembles),
        format_func=lambda i: ensembles[i]["name"],
        placeholder=None if ensembles else NO_ENSEMBLES,
    )
    chosen_predictions = st.multiselect(
        "Predicted videos",
        list(predictions),
        format_func=prediction_name,
        placeholder=None if predictions else NO_PREDICTIONS,
    )
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
    except ApiError as e:  # the service's 404 names the API request that builds one
        st.info(NO_COMPARISON if e.status == 404 else e.detail)
        return
    for dataset in comparison["datasets"]:
        st.subheader(dataset["name"])
        st.link_button(f"Open {dataset['name']} in FiftyOne ↗", dataset["url"], type="primary")
        for view in dataset["views"]:
            st.markdown(f"- [{view['name']}]({view['url']})")


builds_and_links()
