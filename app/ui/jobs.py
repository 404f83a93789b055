"""A job as the pages show it: its state, a progress bar with ETA per member, loss curves for
training, cancel and retry, and its log tail."""

from __future__ import annotations

import streamlit as st

from app.client import Api
from app.ui import plots
from app.ui.session import attempt
from core.progress import format_duration

ACTIVE = ("waiting", "queued", "running")
STATE_ICONS = {
    "waiting": "⏳",
    "queued": "⏳",
    "running": "▶️",
    "succeeded": "✅",
    "failed": "❌",
    "cancelled": "⏹️",
}


def fraction(progress: dict | None) -> float | None:
    """How far a job's progress (``worker.state.progress.JobProgress``) says its stage is, 0..1 (None when
    it has not said)."""
    if not progress or not progress["total"]:
        return None
    return min(1.0, progress["done"] / progress["total"])


def _count(value: float) -> str:
    return f"{value:.0f}" if value == int(value) else f"{value:.1f}"


def progress_text(job: dict) -> str:
    """``▶️ running · training · 12.4/300 epochs · ETA 3m05s``: the state, then what the job's
    progress says: its stage, done/total unit (done alone when the total is unknown), the ETA while
    it runs."""
    progress, state = job["progress"], job["state"]
    parts = [f"{STATE_ICONS.get(state, '')} {state}"]
    if progress:
        done, total, unit = progress["done"], progress["total"], progress["unit"]
        parts += [
            progress["stage"],
            f"{_count(done)}/{_count(total)} {unit}" if total else f"{_count(done)} {unit}",
        ]
        if state == "running" and progress["eta_s"] is not None:
            parts.append(f"ETA {format_duration(progress['eta_s'])}")
    return " · ".join(parts)


def _loss_history(job: dict) -> list[dict]:
    """A training's losses per finished epoch (``{"epoch", "step", "losses"}``), from its progress."""
    losses = (job["progress"] or {}).get("losses")
    return losses["history"] if losses else []


def _member_row(job: dict, label: str) -> None:
    st.progress(fraction(job["progress"]) or 0.0, text=f"{label}: {progress_text(job)}")
    if job.get("error"):
        st.error(job["error"])


def job_card(client: Api, project_id: int, job: dict, title: str) -> None:
    """One job (with its members) in a bordered box; buttons act through the service."""
    with st.container(border=True):
        st.markdown(f"**{title}** · job {job['id']} · {progress_text(job)}")
        members = job.get("members") or []
        if job["state"] in ACTIVE:
            _member_row(job, "progress")
        for i, member in enumerate(members):
            _member_row(member, f"member {i + 1} (job {member['id']})")
        if job.get("error"):
            st.error(job["error"])
        curves = [m for m in members or [job] if _loss_history(m)]
        if curves:
            columns = st.columns(min(len(curves), 2))
            for i, member in enumerate(curves):
                figure = plots.training_curves(_loss_history(member), f"losses, job {member['id']}")
                columns[i % len(columns)].plotly_chart(figure, key=f"curve-{member['id']}")
        buttons = st.columns([1, 1, 6])
        if job["state"] in ACTIVE and not job["cancel_requested"]:
            if buttons[0].button("Cancel", key=f"cancel-{job['id']}"):
                attempt(client.cancel_job, project_id, job["id"])
                st.rerun()
        elif job["state"] in ("failed", "cancelled") and buttons[0].button("Retry", key=f"retry-{job['id']}"):
            attempt(client.retry_job, project_id, job["id"])
            st.rerun()
        if buttons[1].toggle("Log", key=f"log-{job['id']}"):  # fetched only when asked for
            detail = attempt(client.job, project_id, job["id"])
            if detail is not None:
                st.code(detail["log_tail"] or "(nothing logged yet)", language=None)
