"""Training: a form made from the service's training settings, ensembles with their seeds, and the
training jobs live (progress, ETA and loss curves per member; cancel, retry, log), the worker slots."""

from __future__ import annotations

import streamlit as st

from app.ui.forms import names
from app.ui.jobs import ACTIVE, job_card
from app.ui.schema_form import schema_form
from app.ui.session import api, attempt, current_project, must

TRAINING_KINDS = ("ensemble", "train")
FIRST_SETTINGS = [
    "model_type", "backbone", "pretrained", "epochs", "image_height", "image_width", "batch_size",
    "losses", "loss_weights", "max_minutes",
]  # fmt: skip
REFRESH_S = 2.0

client = api()
project = current_project(client)
st.title(f"Training · {project['name']}")

trained = {
    ("model", m["id"]): f"model {m['name']}" for m in must(client.models, project["id"]) if m["summary"]
}
trained |= {
    ("ensemble", e["id"]): f"ensemble {e['name']}"
    for e in must(client.ensembles, project["id"])
    if all(m["summary"] for m in e["members"])
}
with st.form("train"):
    left, middle, right = st.columns([2, 1, 2])
    name = left.text_input("Name", placeholder="e.g. resnet50-semi", help="letters, digits, - and _")
    seeds_text = middle.text_input(
        "Ensemble seeds",
        value="0",
        help="one model per seed: '0' trains one model, '0, 1, 2, 3' an ensemble of 4",
    )
    start = right.selectbox(
        "Start from",
        [None, *trained],
        format_func=lambda k: "scratch (the pretrained backbone)" if k is None else trained[k],
        help="after labeling more frames, fine-tune a trained model (one seed) or ensemble (its seeds): "
        "its settings, changed by the ones below; fewer epochs usually do",
    )
    settings = schema_form(
        must(client.train_config_schema, project["id"]), FIRST_SETTINGS, "train", skip=("seed", "init_from")
    )
    launched = st.form_submit_button("Train", type="primary")
message = st.empty()
if launched:
    seeds = names(seeds_text)
    kind, start_id = start or (None, None)
    if not all(s.lstrip("-").isdigit() for s in seeds) or not seeds:
        message.error("Seeds must be whole numbers separated by commas, e.g. 0, 1, 2.")
    elif kind == "ensemble" and len(seeds) == 1:
        message.error("An ensemble fine-tunes into an ensemble: give the seeds of its members, e.g. 0, 1.")
    elif kind == "model" and len(seeds) > 1:
        message.error("A model fine-tunes into one model: give one seed, or start from an ensemble.")
    elif len(seeds) == 1:
        made = attempt(
            client.train_model,
            project["id"],
            name.strip(),
            {**settings, "seed": int(seeds[0])},
            start_id,
            where=message,
        )
        if made:
            message.success(f"Training {made['name']!r} started.")
    else:
        made = attempt(
            client.train_ensemble,
            project["id"],
            name.strip(),
            settings,
            [int(s) for s in seeds],
            start_id,
            where=message,
        )
        if made:
            message.success(f"Training ensemble {made['name']!r} ({len(made['members'])} members) started.")


@st.fragment(run_every=REFRESH_S)
def live() -> None:
    """Redrawn every few seconds while the page is open: no reload needed."""
    slots = attempt(client.workers) or []
    busy = sum(slot["busy"] for slot in slots)
    devices = ", ".join(sorted({slot["device"] for slot in slots})) or "none"
    st.caption(f"Worker slots: {len(slots)} ({busy} busy) · devices: {devices}")
    jobs = attempt(client.jobs, project["id"]) or []
    training = [j for j in jobs if j["kind"] in TRAINING_KINDS and j["parent_id"] is None]
    if not training:
        st.info("No training yet: fill in the form above and press Train.")
        return
    models = {m["train_job_id"]: m["name"] for m in attempt(client.models, project["id"]) or []}
    ensembles = {e["train_job_id"]: e["name"] for e in attempt(client.ensembles, project["id"]) or []}
    active = [j for j in training if j["state"] in ACTIVE]
    st.subheader(f"Training jobs ({len(active)} active)")
    for job in training[:20]:
        name = ensembles.get(job["id"]) or models.get(job["id"]) or job["kind"]
        job_card(client, project["id"], job, name)


live()
