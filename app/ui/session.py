"""What every page needs: the API as the signed-in user, the project chosen in the sidebar, and
the service's errors shown as it words them (or, for an ended session, back to sign-in)."""

from __future__ import annotations

import json
import os
import urllib.parse
from collections.abc import Callable
from typing import Any, TypeVar

import streamlit as st

from app.client import Api, ApiError
from app.ui.server import API_URL_ENV

SESSION_COOKIE = "posecloud_session"  # set by the service's sign-in page (HttpOnly)
T = TypeVar("T")


def back_to_signin() -> None:
    """To the sign-in page, which brings the user back to this page afterwards."""
    query = urllib.parse.urlencode(st.query_params.to_dict())  # project=..., kept as the page has it
    here = urllib.parse.urlsplit(st.context.url or "/ui/").path + (f"?{query}" if query else "")
    target = "/signin?expired=1&next=" + urllib.parse.quote(here, safe="")
    st.html(f"<script>window.location.href = {json.dumps(target)};</script>", unsafe_allow_javascript=True)
    st.info(f"Your session has ended. [Sign in again]({target}) to continue.")
    st.stop()


def api() -> Api:
    token = st.context.cookies.get(SESSION_COOKIE)
    if not token:
        back_to_signin()
    return Api(os.environ.get(API_URL_ENV, "http://127.0.0.1:8000"), token)


def attempt(call: Callable[..., T], *args: Any, where: Any = st, **kwargs: Any) -> T | None:
    """``call(*args, **kwargs)``; on the service's refusal its message is shown (in ``where``, e.g.
    next to the form) and None returned."""
    try:
        return call(*args, **kwargs)
    except ApiError as e:
        if e.signed_out:
            back_to_signin()
        where.error(e.detail)
        return None


def must(call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``attempt`` for what a page cannot go on without: the page stops after the message."""
    result = attempt(call, *args, **kwargs)
    if result is None:
        st.stop()
    return result


def current_project(client: Api) -> dict:
    """The project chosen in the sidebar; the page stops with a hint when there is none."""
    project_id = st.session_state.get("project_id")
    if project_id is None:
        st.info("Choose a project in the sidebar, or create one on the Projects page.")
        st.stop()
    return must(client.project, project_id)


def my_role(client: Api, project: dict) -> str:
    """The signed-in user's role in ``project``: owner, trainer, labeler or viewer."""
    return project["roles"].get(must(client.me)["username"], "viewer")


PENDING_PROJECT = "switch_to_project"


def switch_project(project_id: int) -> None:
    """Make ``project_id`` the sidebar's project and run the app again (the sidebar's widget owns
    the choice, so the switch is applied before it is drawn)."""
    st.session_state[PENDING_PROJECT] = project_id
    st.query_params["project"] = str(project_id)
    st.rerun()


def rerun_with_note(key: str, message: str) -> None:
    """Run the page again, so that it shows what an action changed, with ``message`` where the page
    calls ``show_note(key)``. A message written just before ``st.rerun()`` would be wiped by the rerun,
    often before the browser has drawn it."""
    st.session_state[f"note-{key}"] = message
    st.rerun()


def show_note(key: str) -> None:
    """The message ``rerun_with_note(key, ...)`` left for this run, once."""
    if note := st.session_state.pop(f"note-{key}", None):
        st.success(note)
