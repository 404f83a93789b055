"""Projects: yours, a new one (from scratch, from the example, with a label file), members."""

from __future__ import annotations

import streamlit as st

from app.example import read_example
from app.ui.forms import names, pairs
from app.ui.session import api, attempt, must, rerun_with_note, show_note, switch_project
from core.errors import ConfigError


def created_message(project: dict, labels: dict | None) -> str:
    """What a new project came with, in a sentence."""
    keypoints = f"{len(project['keypoints'])} keypoints ({', '.join(project['keypoints'])})"
    if labels is None:
        return f"Project {project['name']!r} is ready with {keypoints}; add labels or a video next."
    videos = f"; its videos ({', '.join(labels['videos'])}) are being prepared" if labels["videos"] else ""
    return f"Project {project['name']!r} is ready with {keypoints} and {labels['frames']} labeled frames{videos}."


client = api()
st.title("Projects")
if created := st.session_state.pop("created", None):
    st.success(created)

projects = must(client.projects)
if projects:
    st.dataframe(
        [
            {
                "project": p["name"],
                "id": p["id"],
                "owner": p["owner"],
                "members": ", ".join(p["members"]),
                "keypoints": len(p["keypoints"]),
                "labeled frames": p["labeled_frames"],
                "views": ", ".join(p["views"]),
            }
            for p in projects
        ],
        hide_index=True,
    )
else:
    st.info("You have no projects yet: create one below, or start from the example.")


ROLES = ["trainer", "labeler", "viewer"]
new, example, members = st.tabs(["New project", "From the example", "Members"])

with new, st.form("new-project"):
    name = st.text_input("Name", placeholder="e.g. mouse-open-field")
    keypoints = st.text_area(
        "Keypoints", placeholder="nose, left_ear, right_ear, tail_base", help="in label-file column order"
    )
    skeleton = st.text_area(
        "Skeleton edges", placeholder="nose-left_ear\nnose-right_ear", help="one a-b per line"
    )
    views = st.text_input(
        "Camera views", value="main", help="one view, or several names for separate synchronized cameras"
    )
    pca = st.text_input("Pose PCA keypoints", help="keypoints used by the Pose PCA loss (empty: none)")
    matches = st.text_area(
        "Mirrored-view matches",
        help="for one camera with a mirror: one line per view, the same body parts in the same order",
    )
    labels = st.file_uploader(
        "Labels, or a DeepLabCut or SLEAP project (optional)",
        help="a DeepLabCut project (ZIP), a SLEAP file (.slp) or a label CSV with its images (ZIP). "
        "Leave the keypoints empty to take them (and the skeleton) from the file",
    )
    if st.form_submit_button("Create project", type="primary"):
        if labels is not None and not names(keypoints):  # another tool's project: its keypoints
            made = attempt(client.import_project, labels.name, labels, name.strip() or None)
            project, stored = (made["project"], made["labels"]) if made else (None, None)
        else:
            spec = {
                "name": name.strip(),
                "keypoints": names(keypoints),
                "skeleton": pairs(skeleton),
                "views": names(views) or ["main"],
                "pca_keypoints": names(pca),
                "view_matches": [names(line) for line in matches.splitlines() if line.strip()],
            }
            project = attempt(client.create_project, spec)
            stored = project and labels and attempt(client.upload_labels, project["id"], labels.name, labels)
        if project is not None and (labels is None or stored):
            st.session_state["created"] = created_message(project, stored)
            switch_project(project["id"])

with example:
    st.write(
        "Lightning Pose's mirror-mouse data: 17 keypoints seen from the top and, in a mirror, from below; "
        "its labeled frames and a test video. Good for a first training run."
    )
    if st.button("Create the example project"):
        try:
            spec = read_example()
        except ConfigError as e:
            st.error(str(e))
            st.stop()
        with st.status("Creating the example project...", expanded=True) as status:
            project = must(client.create_project, spec.spec)
            st.write("Uploading the labels and their frames...")
            must(client.upload_labels, project["id"], "labels.zip", spec.labels_zip())
            for video in spec.videos:
                st.write(f"Uploading {video.name}...")
                with video.open("rb") as handle:
                    must(client.upload_video, project["id"], video.name, handle)
            status.update(label=f"Project {project['name']!r} is ready.", state="complete")
        switch_project(project["id"])

with members:
    project_id = st.session_state.get("project_id")
    if project_id is None:
        st.info("Choose a project in the sidebar first.")
    else:
        project = must(client.project, project_id)
        st.write(f"**{project['name']}**")
        st.table(
            [{"user": name, "role": role} for name, role in project["roles"].items()],
            hide_index=True,
        )
        st.caption(
            "trainer: label, train, predict, compare · labeler: label and see the frames and labels · "
            "viewer: read · only the owner changes members and roles"
        )
        show_note("members")
        with st.form("add-member"):
            left, right = st.columns([2, 1])
            username = left.text_input("Member (username)")
            role = right.selectbox("Role", ROLES)
            add, change = st.columns(2)
            if add.form_submit_button("Add") and attempt(
                client.add_member, project_id, username.strip(), role
            ):
                rerun_with_note("members", f"{username} can now open {project['name']!r} as {role}.")
            if change.form_submit_button("Change their role") and attempt(
                client.change_role, project_id, username.strip(), role
            ):
                rerun_with_note("members", f"{username} is now {role} in {project['name']!r}.")
