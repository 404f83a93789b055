"""Models: the project's ensembles and models, their state, pixel error per split and training
settings (refreshed while one trains); rename and delete."""

from __future__ import annotations

import streamlit as st

from app.ui.jobs import ACTIVE, STATE_ICONS
from app.ui.session import api, attempt, current_project, must, rerun_with_note, show_note

REFRESH_S = 3.0
SPLITS = ("test", "validation", "train")

client = api()
project = current_project(client)
pid = project["id"]
st.title(f"Models · {project['name']}")
show_note("models")


def pixel_error(model: dict, split: str) -> str:
    stats = ((model["summary"] or {}).get("pixel_error") or {}).get(split)
    return f"{stats['mean']:.2f}" if stats else "–"


def state(item: dict) -> str:
    return f"{STATE_ICONS.get(item['state'], '')} {item['state']}"


def overview() -> None:
    ensembles = must(client.ensembles, pid)
    models = must(client.models, pid)
    if not models:
        st.info("No models yet: train one on the Training page.")
        return
    if ensembles:
        st.subheader("Ensembles")
        st.table(
            [
                {
                    "ensemble": e["name"],
                    "state": state(e),
                    "members": ", ".join(m["name"] for m in e["members"]),
                }
                for e in ensembles
            ],
            hide_index=True,
        )
    ensemble_names = {e["id"]: e["name"] for e in ensembles}
    st.subheader(
        "Models",
        help="mean distance between prediction and label over the labeled keypoints of each split, in "
        "the frames' own pixels (the training curve's pixel error is in the same pixels)",
    )
    st.table(
        [
            {
                "model": m["name"],
                "ensemble": ensemble_names.get(m["ensemble_id"], ""),
                "state": state(m),
                **{f"{split} px error": pixel_error(m, split) for split in SPLITS},
                "labels": f"version {m['label_version']}" if m["label_version"] else "–",
                "started from": m["started_from"] or "scratch",
            }
            for m in models
        ],
        hide_index=True,
    )
    for m in models:
        with st.expander(f"Training settings of {m['name']}"):
            st.json(m["train_config"], expanded=False)


ensembles = must(client.ensembles, pid)
models = must(client.models, pid)
training = any(m["state"] in ACTIVE for m in models)
st.fragment(overview, run_every=REFRESH_S if training else None)()

choices = {("ensemble", e["id"]): f"ensemble {e['name']}" for e in ensembles}
choices |= {("model", m["id"]): f"model {m['name']}" for m in models}
if not choices:
    st.stop()


st.subheader("Rename or delete")
rename, delete = st.columns(2)
with rename, st.form("rename"):
    chosen = st.selectbox("Model or ensemble", list(choices), format_func=choices.get, key="rename-choice")
    name = st.text_input("New name", help="letters, digits, ., - and _")
    if st.form_submit_button("Rename"):
        kind, row_id = chosen
        call = client.rename_ensemble if kind == "ensemble" else client.rename_model
        if attempt(call, pid, row_id, name.strip()) is not None:
            rerun_with_note("models", f"{choices[chosen]} is now {name.strip()!r}.")
with delete, st.form("delete"):
    chosen = st.selectbox("Model or ensemble", list(choices), format_func=choices.get, key="delete-choice")
    sure = st.checkbox("Delete it and its files (an ensemble: with its members); this cannot be undone")
    if st.form_submit_button("Delete"):
        kind, row_id = chosen
        call = client.delete_ensemble if kind == "ensemble" else client.delete_model
        if not sure:
            st.warning("Tick the box to confirm.")
        elif attempt(lambda: call(pid, row_id) is None):  # True once deleted, None on a refusal
            rerun_with_note("models", f"{choices[chosen]} deleted.")
