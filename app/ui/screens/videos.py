"""Videos: upload several at once (the browser streams each file to the service, with a progress
bar; nothing is held in memory), their transcoding, what each video is, a preview."""

from __future__ import annotations

import html

import streamlit as st

from app.client import UPLOAD_HEADER
from app.ui.jobs import ACTIVE, progress_text
from app.ui.media import play
from app.ui.session import api, attempt, current_project

REFRESH_S = 3.0
# true with no video and in the seconds between an upload's end and the list's next refresh
EMPTY_LIST = "Uploaded videos are listed here a few seconds after their upload ends: choose files above and press Upload."

client = api()
project = current_project(client)
st.title(f"Videos · {project['name']}")

# The upload goes from the browser straight to the service (session cookie plus the upload header),
# so a multi-GB file streams from disk: Streamlit's own uploader would hold it in memory.
UPLOADER = """
<div style="border:1px dashed #bbb;border-radius:8px;padding:1rem">
  <input type="file" id="pc-files" multiple accept="video/*,.mp4,.avi,.mov,.mkv,.webm">
  <button id="pc-upload" style="margin-left:1rem" data-url="__URL__" data-header="__HEADER__">Upload</button>
  <div id="pc-status" style="margin-top:.8rem"></div>
</div>
<script>
// Streamlit may run this before the markup above is in the page, and again on every rerun: one
// listener on the document, which finds the elements when the button is pressed.
if (!window.posecloudUploader) {
  window.posecloudUploader = true;
  const send = (file, url, header, status) => new Promise((resolve) => {
    // built with the DOM, not markup: Streamlit's sanitiser drops a script holding tags
    const div = document.createElement("div"), name = document.createElement("span");
    const bar = document.createElement("progress"), outcome = document.createElement("b");
    div.className = "pc-upload-row";
    name.textContent = file.name + " ";
    bar.max = 1;
    bar.value = 0;
    bar.style.width = "40%";
    div.append(name, bar, " ", outcome);
    status.appendChild(div);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", url + "?filename=" + encodeURIComponent(file.name));
    xhr.setRequestHeader(header, "1");
    xhr.setRequestHeader("Content-Type", "application/octet-stream");
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) bar.value = e.loaded / e.total; };
    xhr.onload = () => {
      let detail = "";
      try { detail = JSON.parse(xhr.responseText).detail || ""; } catch (e) {}
      outcome.textContent = xhr.status === 201 ? "uploaded" : "refused: " + (detail || xhr.statusText);
      outcome.style.color = xhr.status === 201 ? "green" : "#b00020";
      if (xhr.status === 201) bar.value = 1;
      resolve();
    };
    xhr.onerror = () => { outcome.textContent = "failed: the connection was lost"; resolve(); };
    xhr.send(file);
  });
  document.addEventListener("click", async (event) => {
    const button = event.target.closest("#pc-upload");
    if (!button) return;
    const status = document.getElementById("pc-status");
    for (const file of document.getElementById("pc-files").files) {
      await send(file, button.dataset.url, button.dataset.header, status);
    }
  });
}
</script>
"""
st.subheader("Upload")
st.html(
    UPLOADER.replace("__URL__", html.escape(client.videos_path(project["id"]))).replace(
        "__HEADER__", html.escape(UPLOAD_HEADER)
    ),
    unsafe_allow_javascript=True,
)


@st.fragment(run_every=REFRESH_S)
def video_table(shown: int) -> None:
    videos = attempt(client.videos, project["id"])
    if videos is None:  # the service's refusal is shown: no list to tell of
        return
    if len(videos) != shown:  # an upload finished: the whole page (the preview's choices) follows
        st.rerun(scope="app")
    if not videos:
        st.info(EMPTY_LIST)
        return
    transcodes = {
        j["params"].get("video_id"): j
        for j in attempt(client.jobs, project["id"]) or []
        if j["kind"] == "transcode"
    }
    rows = []
    for v in videos:
        job = transcodes.get(v["id"])
        state = "ready" if v["transcoded"] else progress_text(job) if job else "original only"
        rows.append(
            {
                "id": v["id"],
                "video": v["filename"],
                "frames": v["frames"],
                "fps": round(v["fps"], 2),
                "size": f"{v['width']}x{v['height']}",
                "codec": v["codec"],
                "MB": round(v["size_bytes"] / 1e6, 1),
                "transcoding": state,
            }
        )
    st.dataframe(rows, hide_index=True)
    if any(j["state"] in ACTIVE for j in transcodes.values()):
        st.caption("Transcoding runs in the background; this list updates by itself.")


videos = attempt(client.videos, project["id"]) or []
st.subheader("Your videos")
video_table(len(videos))

if videos:
    st.subheader("Preview")
    by_id = {v["id"]: v for v in videos}
    chosen = st.selectbox("Video", list(by_id), format_func=lambda i: by_id[i]["filename"])
    play(client.video_path(project["id"], chosen))
