"""A job as the pages show it: its state, a progress bar with ETA per member, loss curves for
training, cancel and retry, and its log tail."""

from __future__ import annotations

from datetime import UTC, datetime

import plotly.graph_objects as go
import streamlit as st

from app.ui.client import Api
from app.ui.session import attempt

ACTIVE = ("waiting", "queued", "running")
STATE_ICONS = {
    "waiting": "⏳",
    "queued": "⏳",
    "running": "▶️",
    "succeeded": "✅",
    "failed": "❌",
    "cancelled": "⏹️",
}
# (done, total) pairs the workers report, by kind of work
COUNTERS = (("step", "total_steps"), ("frames", "total_frames"), ("done", "total"))


def fraction(progress: dict) -> float | None:
    """How far a job's latest report says it is, 0..1 (None when it has not said)."""
    for done, total in COUNTERS:
        if isinstance(progress.get(done), int | float) and progress.get(total):
            return min(1.0, max(0.0, progress[done] / progress[total]))
    return None


def _since(timestamp: str | None) -> float | None:
    if not timestamp:
        return None
    started = datetime.fromisoformat(timestamp)
    started = started if started.tzinfo else started.replace(tzinfo=UTC)
    return (datetime.now(UTC) - started).total_seconds()


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return (
        f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"
    )


def progress_text(job: dict) -> str:
    progress, state = job["progress"], job["state"]
    done = fraction(progress)
    parts = [f"{STATE_ICONS.get(state, '')} {state}"]
    if "epoch" in progress and "epochs" in progress:
        parts.append(f"epoch {progress['epoch']}/{progress['epochs']}")
    elif progress.get("step") and not isinstance(progress["step"], int | float):
        parts.append(str(progress["step"]))
    if done is not None:
        parts.append(f"{done:.0%}")
        elapsed = _since(job.get("started_at"))
        if state == "running" and elapsed and done > 0:
            parts.append(f"ETA {_duration(elapsed * (1 - done) / done)}")
    return " · ".join(parts)


def loss_curve(progress: dict, title: str) -> go.Figure | None:
    """Each loss (supervised and each unsupervised term) against the epoch, from the job's history."""
    history = progress.get("history") or []
    if not history:
        return None
    names = sorted({name for entry in history for name in entry.get("losses", {})})
    figure = go.Figure()
    for name in names:
        points = [(e["epoch"], e["losses"][name]) for e in history if name in e.get("losses", {})]
        figure.add_scatter(
            x=[p[0] for p in points], y=[p[1] for p in points], mode="lines+markers", name=name,
            hovertemplate=f"{name}<br>epoch %{{x}}<br>%{{y:.4g}}<extra></extra>",
        )  # fmt: skip
    figure.update_layout(
        title=title, xaxis_title="epoch", yaxis_title="loss", yaxis_type="log", height=300,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
    )  # fmt: skip
    return figure


def _member_row(job: dict, label: str) -> None:
    st.progress(fraction(job["progress"]) or 0.0, text=f"{label}: {progress_text(job)}")
    if job.get("error"):
        st.error(job["error"])


def job_card(client: Api, project_id: int, job: dict, title: str) -> None:
    """One job (with its members) in a bordered box; buttons act through the service."""
    with st.container(border=True):
        st.markdown(f"**{title}** · job {job['id']} · {progress_text(job)}")
        members = job.get("members") or []
        for i, member in enumerate(members):
            _member_row(member, f"member {i + 1} (job {member['id']})")
        if not members and job["state"] in ACTIVE:
            _member_row(job, "progress")
        if job.get("error"):
            st.error(job["error"])
        curves = [m for m in members or [job] if m["progress"].get("history")]
        if curves:
            columns = st.columns(min(len(curves), 2))
            for i, member in enumerate(curves):
                figure = loss_curve(member["progress"], f"losses, job {member['id']}")
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
