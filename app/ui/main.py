"""The posecloud front end: the sidebar (who is signed in, which project) and the pages."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from app.icon import paw_icon
from app.ui.session import PENDING_PROJECT, api, must

PAGES = Path(__file__).with_name("screens")
LABELER_PAGES = ("Projects", "Frames and labels")  # not "pages": Streamlit would list that folder itself

SIGN_OUT = """<form action="/signout" method="post" style="margin:0">
<button type="submit" style="padding:.3rem .9rem;border:1px solid #d0d3da;border-radius:.5rem;background:white;
cursor:pointer;font:inherit">Sign out</button></form>"""

st.set_page_config(page_title="posecloud", page_icon=paw_icon(), layout="wide")
client = api()
me = must(client.me)
projects = must(client.projects)

with st.sidebar:
    st.markdown(f"Signed in as **{me['username']}**")
    # a form in this very tab: a link button would sign out in a new tab and leave this one behind
    st.html(SIGN_OUT)
    by_id = {p["id"]: p for p in projects}
    wanted = st.query_params.get("project")
    if wanted is not None and wanted.isdigit() and int(wanted) in by_id:
        st.session_state.setdefault("project_id", int(wanted))
    if (pending := st.session_state.pop(PENDING_PROJECT, None)) in by_id:
        st.session_state["project_id"] = pending
    if st.session_state.get("project_id") not in by_id:
        st.session_state["project_id"] = projects[0]["id"] if projects else None
    if projects:
        st.selectbox(
            "Project",
            list(by_id),
            format_func=lambda pid: f"{by_id[pid]['name']} (#{pid})",
            key="project_id",
        )
        st.query_params["project"] = str(st.session_state["project_id"])

pages = [
    st.Page(PAGES / "projects.py", title="Projects", icon=":material/folder:", default=True),
    st.Page(PAGES / "videos.py", title="Videos", icon=":material/movie:"),
    st.Page(PAGES / "labeling.py", title="Frames and labels", icon=":material/label:"),
    st.Page(PAGES / "rounds.py", title="Labeling rounds", icon=":material/autorenew:"),
    st.Page(PAGES / "training.py", title="Training", icon=":material/model_training:"),
    st.Page(PAGES / "models.py", title="Models", icon=":material/neurology:"),
    st.Page(PAGES / "prediction.py", title="Prediction", icon=":material/target:"),
    st.Page(PAGES / "diagnostics.py", title="Diagnostics", icon=":material/monitoring:"),
    st.Page(PAGES / "compare.py", title="Compare in FiftyOne", icon=":material/compare:"),
]
project = by_id.get(st.session_state.get("project_id"))
if project is not None and project["roles"].get(me["username"]) == "labeler":
    pages = [p for p in pages if p.title in LABELER_PAGES]  # the others would only be refused
st.navigation(pages).run()
