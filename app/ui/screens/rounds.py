"""Labeling rounds: the loop of picking frames where the model fails, labeling them and retraining,
one round at a time; each round's frames (and why each was picked), its labeling progress and
training, test error against labeled frames across rounds, and whether another round should help
(refreshed while a round picks frames or trains)."""

from __future__ import annotations

import streamlit as st

from app.ui import plots
from app.ui.jobs import STATE_ICONS
from app.ui.session import api, attempt, current_project, must, rerun_with_note, show_note

REFRESH_S = 3.0
BUSY = ("picking", "labeling", "training")  # states that change by themselves
ROUND_ICONS = {
    "picking": STATE_ICONS["running"],
    "labeling": "✏️",
    "ready to train": "🟡",
    "training": STATE_ICONS["running"],
    "trained": STATE_ICONS["succeeded"],
    "failed": STATE_ICONS["failed"],
}
PREVIOUS = "the previous round's training"
NO_MODEL = "no model: frames of varied postures"

client = api()
project = current_project(client)
pid = project["id"]
st.title(f"Labeling rounds · {project['name']}")
st.caption(
    "Each round picks frames where the last model fails (members disagree, keypoints jump, poses are "
    "implausible, confidence is low), you label them in Label Studio (the model's keypoints are there to "
    "correct), and the round retrains from the last model's weights. Rounds stop paying off when the test "
    "error no longer drops."
)
show_note("rounds")


def _number(value: float | None, unit: str = "") -> str:
    return "–" if value is None else f"{value:.2f}{unit}"


def overview() -> None:
    listed = must(client.rounds, pid)
    rounds = listed["rounds"]
    if not rounds:
        st.info("No rounds yet: start the first one below.")
        return
    if listed["stop_hint"]:
        st.warning(listed["stop_hint"])
    measured = [r for r in rounds if r["test_px_error"] is not None]
    if measured:
        st.plotly_chart(plots.rounds_curve(measured), key="rounds-curve")
    st.table(
        [
            {
                "round": r["number"],
                "state": f"{ROUND_ICONS.get(r['state'], '')} {r['state']}",
                "started from": r["started_from"] or "varied postures",
                "frames labeled": f"{r['labeled']} / {len(r['frames'])}",
                "spread on videos (px)": _number(r["spread_px"]),
                "trained": r["trained"] or "–",
                "fine-tuned": {True: "yes", False: "from scratch", None: "–"}[r["fine_tuned"]],
                "labeled frames": r["labeled_frames"] or "–",
                "test px error": _number(r["test_px_error"]),
            }
            for r in rounds
        ],
        hide_index=True,
    )
    for r in rounds:
        if r["state"] == "ready to train":
            train_form(r)
    task_pages = {
        t["image"]: t["url"] for t in (attempt(client.labeling_tasks, pid) or {"tasks": []})["tasks"]
    }
    for r in reversed(rounds):
        with st.expander(f"Round {r['number']}: {len(r['frames'])} frames, {r['labeled']} labeled"):
            st.dataframe(
                [
                    {
                        "frame": f["image"],
                        "why": ", ".join(f["reasons"]) or "–",
                        "labeled": "✅" if f["labeled"] else "",
                        "label it": task_pages.get(f["image"]),
                    }
                    for f in r["frames"]
                ],
                column_config={"label it": st.column_config.LinkColumn(display_text="open in Label Studio")},
                hide_index=True,
            )


def train_form(r: dict) -> None:
    with st.form(f"train-{r['number']}"):
        fine_tune = st.checkbox(
            "Fine-tune from the model the round started from (half the epochs)",
            value=r["started_from"] is not None,
            disabled=r["started_from"] is None,
            help="each ensemble member starts from the member with its seed; untick to train from scratch "
            "with the same settings",
        )
        if st.form_submit_button(f"Train round {r['number']}", type="primary"):
            trained = attempt(client.train_round, pid, r["number"], fine_tune)
            if trained is not None:
                rerun_with_note(
                    "rounds",
                    f"Round {r['number']} is training {trained['trained']}; its progress is on the Training page.",
                )


listed = must(client.rounds, pid)
busy = any(r["state"] in BUSY for r in listed["rounds"])
st.fragment(overview, run_every=REFRESH_S if busy else None)()

st.subheader(f"Start round {len(listed['rounds']) + 1}")
videos = must(client.videos, pid)
ensembles = [e for e in must(client.ensembles, pid) if e["state"] == "succeeded"]
models = [m for m in must(client.models, pid) if m["summary"] is not None and m["ensemble_id"] is None]
if not videos:
    st.info("Upload a video on the Videos page first: rounds pick their frames from the project's videos.")
    st.stop()
starts = {PREVIOUS: None} if listed["rounds"] else {NO_MODEL: None}
starts |= {f"ensemble {e['name']}": ("ensemble", e["id"]) for e in ensembles}
starts |= {f"model {m['name']}": ("model", m["id"]) for m in models}
with st.form("start-round"):
    start = st.selectbox(
        "Start from", list(starts), help="the model whose predictions pick the frames it gets most wrong"
    )
    budget = st.number_input("Frames to label", min_value=1, max_value=2000, value=10)
    names = {v["id"]: v["filename"] for v in videos}
    chosen = st.multiselect(
        "Videos to mine",
        list(names),
        default=list(names),
        format_func=names.get,
        help="the frames are spread across them by their lengths",
    )
    if st.form_submit_button("Start the round", type="primary"):
        kind, row_id = starts[start] or (None, None)
        started = attempt(
            client.start_round,
            pid,
            int(budget),
            chosen or None,
            model_id=row_id if kind == "model" else None,
            ensemble_id=row_id if kind == "ensemble" else None,
        )
        if started is not None:
            rerun_with_note(
                "rounds",
                f"Round {started['number']} is picking {int(budget)} frames; they become tasks on the "
                "labeling page when picked.",
            )
