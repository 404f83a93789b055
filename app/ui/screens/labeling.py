"""Frames and labels: pick frames to label from the videos, labeling progress per keypoint, the
labeled frames drawn with their labels (to check them before training), the frames likely labeled
wrong (label QC) to review, who labeled what (frames, time per frame, QC flags), the versions of the
labels (to restore one), and the way into the project's Label Studio page."""

from __future__ import annotations

import io

import pandas as pd
import plotly.express as px
import streamlit as st

from app.client import ApiError
from app.ui import plots
from app.ui.jobs import ACTIVE, job_card
from app.ui.session import api, attempt, current_project, my_role, rerun_with_note, show_note
from app.ui.wording import labeling_progress, worded

REFRESH_S = 3.0
NOT_PREPARED = "The labeling page is not prepared yet: press Prepare the labeling page first."
NO_TASKS = "No frames to label yet: pick frames above (or label some), then pre-annotate."
NO_LABELS = "No labels yet: pick frames above and label them in Label Studio."
FRAME_KINDS = {
    "extract_frames": "frame extraction",
    "select_frames": "active selection",
    "preannotate": "pre-annotation",
}

client = api()
project = current_project(client)
pid = project["id"]
st.title(f"Frames and labels · {project['name']}")

st.subheader("Label in Label Studio")
left, right = st.columns(2)
if left.button(
    "Prepare the labeling page", type="primary", help="makes a task of every picked or labeled frame"
):
    opened = attempt(client.open_labeling, pid)
    if opened is not None:
        interface = opened["config"] or "as posecloud set it"  # else: what was put back, and why
        st.success(f"{opened['tasks_made']} new tasks; the labeling interface is {interface}.")
if right.button(
    "Sync labels now", help="catch up with Label Studio at once (it happens every few seconds anyway)"
):
    synced = attempt(worded(client.sync_labels, {409: NOT_PREPARED}), pid)
    if synced is not None:
        put_back = f" {synced['config'][0].upper()}{synced['config'][1:]}." if synced["config"] else ""
        st.success(
            f"In step with Label Studio: {synced['tasks']} tasks ({synced['tasks_made']} new), "
            f"{synced['labeled']} labeled frames in the label file.{put_back}"
        )
labeling = attempt(client.labeling_tasks, pid) or {"url": None, "tasks": []}
task_pages = {row: t["url"] for t in labeling["tasks"] for row in t["rows"].values()}  # every view's row
if labeling["url"]:
    st.link_button("Open Label Studio ↗", labeling["url"])

st.subheader("Pick frames to label")
role = my_role(client, project)
may_pick = role != "labeler"  # from the videos, with the models: not a labeler's
videos = (attempt(client.videos, pid) or []) if may_pick else []
trained = []
if may_pick:
    trained += [("ensemble", e) for e in attempt(client.ensembles, pid) or [] if e["state"] == "succeeded"]
    trained += [("model", m) for m in attempt(client.models, pid) or [] if m["state"] == "succeeded"]


def model_and_ensemble(which: int) -> tuple[int | None, int | None]:
    """The chosen entry of ``trained`` as the API's (model_id, ensemble_id)."""
    kind, item = trained[which]
    return (None, item["id"]) if kind == "ensemble" else (item["id"], None)


if not may_pick:
    st.caption("The project's trainers and owner pick the frames; label their tasks in Label Studio (above).")
elif not videos:
    st.info("Upload a video on the Videos page first.")
else:
    by_id = {v["id"]: v for v in videos}
    varied, active = st.tabs(["Varied postures", "Where a model is unsure"])
    with varied, st.form("extract"):
        chosen = st.multiselect(
            "Videos", list(by_id), default=list(by_id), format_func=lambda i: by_id[i]["filename"]
        )
        n = st.number_input(
            "Frames per video", min_value=1, max_value=2000, value=20,
            help="picked for varied postures (k-means on the frames' appearance)",
        )  # fmt: skip
        context = st.number_input("Context frames on each side", min_value=0, max_value=5, value=2)
        if st.form_submit_button("Pick frames"):
            for video_id in chosen:
                job = attempt(client.extract_frames, pid, video_id, int(n), int(context))
                if job is not None:
                    st.success(f"Picking {n} frames from {by_id[video_id]['filename']} (job {job['id']}).")
    with active:
        if not trained:
            st.info("Train a model or an ensemble first: its least certain frames are picked here.")
        else:
            with st.form("select"):
                video_id = st.selectbox(
                    "Video",
                    list(by_id),
                    format_func=lambda i: by_id[i]["filename"],
                    help="with separate cameras, either camera's video: the session's views are scored together",
                )
                which = st.selectbox(
                    "Model or ensemble",
                    range(len(trained)),
                    format_func=lambda i: f"{trained[i][0]} {trained[i][1]['name']}",
                )
                n_active = st.number_input(
                    "Frames", min_value=1, max_value=2000, value=20,
                    help="the frames with the worst outlier scores (ensemble spread, jumps, Pose PCA error, low confidence), "
                    "extracted with their context; their tasks carry the model's keypoints to correct",
                )  # fmt: skip
                if st.form_submit_button("Pick uncertain frames"):
                    kind, item = trained[which]
                    job = attempt(
                        client.select_frames, pid, video_id, int(n_active), *model_and_ensemble(which)
                    )
                    if job is not None:
                        st.success(
                            f"Scoring {by_id[video_id]['filename']} with {kind} {item['name']!r} (job {job['id']})."
                        )
if trained:
    with st.form("preannotate"):
        which = st.selectbox(
            "Pre-annotate the tasks with",
            range(len(trained)),
            format_func=lambda i: f"{trained[i][0]} {trained[i][1]['name']}",
        )
        if st.form_submit_button(
            "Pre-annotate", help="the model's keypoints appear on every task, to correct instead of click"
        ):
            kind, item = trained[which]
            job = attempt(worded(client.preannotate, {409: NO_TASKS}), pid, *model_and_ensemble(which))
            if job is not None:
                st.success(f"Predicting the tasks' frames with {kind} {item['name']!r} (job {job['id']}).")


@st.fragment(run_every=REFRESH_S)
def extraction_and_progress() -> None:
    jobs = [j for j in attempt(client.jobs, pid) or [] if j["kind"] in FRAME_KINDS and j["parent_id"] is None]
    for job in [j for j in jobs if j["state"] in ACTIVE] + [j for j in jobs if j["state"] not in ACTIVE][:3]:
        job_card(client, pid, job, FRAME_KINDS[job["kind"]])
    try:
        progress = client.labeling_progress(pid)
    except ApiError as e:
        st.caption(f"Labeling progress unavailable: {e.detail}")
        return
    value, counted = labeling_progress(progress)
    st.metric("Frames labeled", value)
    st.caption(counted)
    counts = pd.DataFrame(
        {"keypoint": list(progress["keypoints"]), "frames": list(progress["keypoints"].values())}
    )
    figure = px.bar(
        counts, x="keypoint", y="frames", title="Labeled frames per keypoint", height=320,
        color="keypoint", color_discrete_map=plots.keypoint_colors(project["keypoints"]),
    )  # fmt: skip
    figure.update_layout(showlegend=False)
    st.plotly_chart(figure, key="per-keypoint")


st.subheader("Labeling progress")
extraction_and_progress()


def labels_table(view: str | None) -> pd.DataFrame | None:
    try:
        raw = client.labels_csv(pid, view)
    except ApiError as e:
        st.info(NO_LABELS if e.status == 404 else e.detail)
        return None
    table = pd.read_csv(io.BytesIO(raw), header=[0, 1, 2], index_col=0)
    table.columns = table.columns.droplevel(0)  # the scorer
    return table


st.subheader("Labeled frames")
view = st.selectbox("View", project["views"]) if len(project["views"]) > 1 else None
table = labels_table(view)
if table is not None and len(table):
    labeled = table[table.notna().any(axis=1)]
    st.caption(f"{len(labeled)} labeled frames; {int(labeled.isna().all(axis=1).sum())} without any keypoint")
    frame_name = st.selectbox("Frame", list(labeled.index))
    image = attempt(client.frame, pid, frame_name)
    if image is not None:
        points = plots.label_points(labeled.loc[frame_name])
        colors = plots.keypoint_colors(project["keypoints"])
        st.plotly_chart(
            plots.frame_figure(image, points, frame_name, colors, project["skeleton"]), key="frame"
        )
    if frame_name in task_pages:
        st.link_button("Open this frame in Label Studio ↗", task_pages[frame_name])
    else:
        st.caption("This frame opens in Label Studio once the labeling page is prepared (above).")


st.subheader(
    "Frames to review",
    help="each labeled frame checked against the project's other labels: keypoints far from where the "
    "others put them, left/right swaps (the project's flip pairs), unusual skeleton edges and angles, "
    "keypoints outside the frame, two keypoints at one point",
)
qc = attempt(client.label_qc, pid)
for checked in (qc or {}).get("views", []):
    heading = f"{checked['view']}: " if len(project["views"]) > 1 else ""
    st.caption(
        f"{heading}{len(checked['flagged'])} of {checked['frames']} labeled frames to review; "
        f"{len(checked['reviewed'])} reviewed and kept as labeled"
    )
    for note in checked["notes"]:
        st.caption(f"Not checked: {note}")
    if not checked["flagged"]:
        continue
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "frame": f["image"],
                    "score": f["score"],
                    "why": "; ".join(r["detail"] for r in f["reasons"]),
                    "correct in Label Studio": f["labelstudio_url"] or "",  # none yet: see below
                }
                for f in checked["flagged"]
            ]
        ),
        column_config={
            "correct in Label Studio": st.column_config.LinkColumn(display_text="open ↗"),
            "why": st.column_config.TextColumn(width="large"),
        },
        hide_index=True,
        key=f"qc-{checked['view']}",
    )
    if any(f["labelstudio_url"] is None for f in checked["flagged"]):
        st.caption(
            "Frames without a link have no Label Studio task yet: press Prepare the labeling page (above)."
        )
    right_ones = st.multiselect(
        "Frames whose labels are right as they are",
        [f["image"] for f in checked["flagged"]],
        key=f"qc-right-{checked['view']}",
        help="clears their flags until their labels change (a frame corrected in Label Studio is checked again)",
    )
    keep = st.button("Keep these labels", disabled=not right_ones, key=f"qc-keep-{checked['view']}")
    if keep and attempt(client.labels_reviewed, pid, right_ones) is not None:
        st.rerun()


if role != "labeler":  # figures about the lab's labelers are for those who run the project
    st.subheader(
        "Labelers",
        help="whose labels each frame holds (its task's newest annotation), Label Studio's time per frame "
        "(opening the task to submitting), how many of their frames label QC flags now, and how far their "
        "labels of a frame shown to them again land from their first (median over keypoints)",
    )
    show_note("labelers")
    labelers = attempt(client.labelers, pid) or []
    rechecked = {row["labeler"]: row for row in attempt(client.consistency, pid) or []}
    st.table(
        [
            {
                "labeler": row["labeler"] or "uploaded or imported labels",
                "frames": row["frames"],
                "seconds per frame (median)": (
                    f"{row['median_seconds_per_frame']:.0f}" if row["median_seconds_per_frame"] else "–"
                ),
                "frames flagged by QC": row["flagged"],
                "shown again / labeled again": (
                    f"{again['shown']} / {again['relabeled']}"
                    if (again := rechecked.get(row["labeler"]))
                    else "–"
                ),
                "disagreement with themself (median px)": (
                    f"{again['median_px']:.1f}" if again and again["median_px"] is not None else "–"
                ),
            }
            for row in labelers
        ]
        or [{"labeler": "nobody has labeled in Label Studio yet"}],
        hide_index=True,
    )
    if role in ("owner", "trainer") and any(row["labeler"] for row in labelers):
        with st.form("rechecks"):
            percent = st.number_input(
                "Show each labeler this % of their frames again",
                min_value=1,
                max_value=100,
                value=10,
                help="new tasks with the same images and no labels, among the others in Label Studio; what "
                "they put there never changes the labels, and the table above says how far it lands from "
                "their first labels",
            )
            if st.form_submit_button("Show frames again") and (
                made := attempt(client.show_frames_again, pid, percent / 100)
            ):
                shown = ", ".join(f"{n} to {who}" for who, n in made["shown"].items())
                rerun_with_note("labelers", f"Frames shown again in Label Studio: {shown}.")


st.subheader(
    "Label versions",
    help="every state the labels reached (an upload, Label Studio, a restore), with the models trained on "
    "each; restoring one makes its labels the project's again, in Label Studio too, as a new version",
)
show_note("versions")
versions = attempt(client.label_versions, pid) or []
if not versions:
    st.caption("No label versions yet: the first is kept once frames are labeled or labels uploaded.")
else:
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "version": v["number"],
                    "date": v["created_at"][:16].replace("T", " "),
                    "source": v["source"],
                    "by": v["user"] or "–",
                    "labeled frames": v["labeled_frames"],
                    "models trained on it": ", ".join(v["models"]) or "–",
                }
                for v in versions
            ]
        ),
        hide_index=True,
        key="label-versions",
    )
if role != "viewer" and len(versions) > 1:
    with st.form("restore"):
        number = st.selectbox("Version to restore", [v["number"] for v in versions[1:]])
        sure = st.checkbox(
            "Replace the current labels, and Label Studio's annotations, with this version's "
            f"(the current labels stay version {versions[0]['number']}, to restore back)"
        )
        if st.form_submit_button("Restore"):
            if not sure:
                st.warning("Tick the box to confirm.")
            elif (restored := attempt(client.restore_label_version, pid, number)) is not None:
                rerun_with_note(
                    "versions",
                    f"Version {number}'s labels are the project's again, as version {restored['number']}.",
                )
