"""The one HTTP client of the posecloud API, used by the front end's pages and by the command line's
commands that talk to a running service: every URL, the token and the error bodies are here.

Callers show ``ApiError.detail`` verbatim: the service words its errors for the user ("what was
wrong and what to do").
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import IO, Any

import httpx

UPLOAD_HEADER = "X-Posecloud-Upload"  # with the session cookie: an upload from the front end's page


class ApiError(Exception):
    """The service refused a request: ``status`` and its ``detail`` message."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail

    @property
    def signed_out(self) -> bool:
        return self.status == 401


def _detail(resp: httpx.Response) -> str:
    try:
        detail = resp.json().get("detail", resp.text)
    except ValueError:
        return resp.text or resp.reason_phrase
    if isinstance(detail, list):  # a validation error: field and message for each
        return "; ".join(f"{'.'.join(str(p) for p in d.get('loc', [])[1:])}: {d.get('msg')}" for d in detail)
    return str(detail)


def _send(http: httpx.Client, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """The response to a request, or the service's refusal (or its absence) as an ``ApiError``."""
    try:
        resp = http.request(method, path, **kwargs)
    except httpx.TransportError as e:
        raise ApiError(503, f"the posecloud service is unreachable ({e}); is it running?") from None
    if resp.status_code >= 400:
        raise ApiError(resp.status_code, _detail(resp))
    return resp


class Api:
    """The posecloud API at ``base_url`` as the user holding ``token``."""

    def __init__(self, base_url: str, token: str, timeout_s: float = 60.0) -> None:
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {token}"},
            timeout=httpx.Timeout(timeout_s, read=600.0),
        )

    @classmethod
    def sign_in(cls, base_url: str, username: str, password: str) -> Api:
        """The API as ``username``, signed in with ``password``."""
        with httpx.Client(base_url=base_url.rstrip("/"), timeout=60.0) as http:
            resp = _send(http, "POST", "/auth/login", data={"username": username, "password": password})
        return cls(base_url, resp.json()["access_token"])

    def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return _send(self._http, method, path, **kwargs)

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        resp = self._call(method, path, **kwargs)
        return resp.json() if resp.content else None

    # accounts
    def me(self) -> dict:
        return self._json("GET", "/auth/me")

    # projects
    def projects(self) -> list[dict]:
        return self._json("GET", "/projects")

    def project(self, project_id: int) -> dict:
        return self._json("GET", f"/projects/{project_id}")

    def create_project(self, spec: dict) -> dict:
        return self._json("POST", "/projects", json=spec)

    def import_project(self, filename: str, data: IO[bytes] | bytes, name: str | None = None) -> dict:
        """A new project from another tool's (a zipped DeepLabCut project, a SLEAP file): its
        keypoints, skeleton and labels; ``{"project": ..., "labels": ...}``."""
        params = {"filename": filename} | ({"name": name} if name else {})
        return self._json("POST", "/projects/import", params=params, content=_chunks(data))

    def delete_project(self, project_id: int) -> None:
        self._call("DELETE", f"/projects/{project_id}")

    def add_member(self, project_id: int, username: str, role: str = "trainer") -> dict:
        body = {"username": username, "role": role}
        return self._json("POST", f"/projects/{project_id}/members", json=body)

    def change_role(self, project_id: int, username: str, role: str) -> dict:
        return self._json("PATCH", f"/projects/{project_id}/members/{username}", json={"role": role})

    def upload_labels(self, project_id: int, filename: str, data: IO[bytes] | bytes) -> dict:
        return self._json(
            "PUT", f"/projects/{project_id}/labels", params={"filename": filename}, content=_chunks(data)
        )

    def labels_csv(self, project_id: int, view: str | None = None) -> bytes:
        params = {"view": view} if view else {}
        return self._call("GET", f"/projects/{project_id}/labels", params=params).content

    def label_versions(self, project_id: int) -> list[dict]:
        """Every version of the labels, newest first: number, sha256, source, user, labeled_frames,
        models (trained on it), created_at."""
        return self._json("GET", f"/projects/{project_id}/labels/versions")

    def restore_label_version(self, project_id: int, number: int) -> dict:
        """Version ``number``'s labels made the project's again; returns the version that records it."""
        return self._json("POST", f"/projects/{project_id}/labels/versions/{number}/restore")

    def frame(self, project_id: int, image: str) -> bytes:
        return self._call("GET", f"/projects/{project_id}/frames/{image}").content

    # videos
    def videos(self, project_id: int) -> list[dict]:
        return self._json("GET", f"/projects/{project_id}/videos")

    def upload_video(self, project_id: int, filename: str, data: IO[bytes] | bytes) -> dict:
        return self._json(
            "POST", f"/projects/{project_id}/videos", params={"filename": filename}, content=_chunks(data)
        )

    def extract_frames(self, project_id: int, video_id: int, n: int, context: int = 2) -> dict:
        body = {"n": n, "context": context}
        return self._json("POST", f"/projects/{project_id}/videos/{video_id}/extract-frames", json=body)

    @staticmethod
    def videos_path(project_id: int) -> str:
        """Where the browser's uploader sends videos (with the session cookie and ``UPLOAD_HEADER``)."""
        return f"/projects/{project_id}/videos"

    @staticmethod
    def video_path(project_id: int, video_id: int) -> str:
        """The browser's address of a video's file (served to the session cookie)."""
        return f"/projects/{project_id}/videos/{video_id}/file"

    def video_frame(self, project_id: int, video_id: int, index: int) -> bytes:
        """Frame ``index`` of a video, PNG."""
        return self._call("GET", f"/projects/{project_id}/videos/{video_id}/frames/{index}").content

    # labeling
    def open_labeling(self, project_id: int) -> dict:
        return self._json("POST", f"/projects/{project_id}/labeling")

    def sync_labels(self, project_id: int) -> dict:
        return self._json("POST", f"/projects/{project_id}/labeling/sync")

    def labeling_tasks(self, project_id: int) -> dict:
        """``{"url": the labeling page or None, "tasks": [{"image", "task_id", "url"}]}``."""
        return self._json("GET", f"/projects/{project_id}/labeling/tasks")

    def label_qc(self, project_id: int) -> dict:
        """Per view: the labeled frames flagged as likely wrong, with reasons, and those reviewed."""
        return self._json("GET", f"/projects/{project_id}/labels/qc")

    def labels_reviewed(self, project_id: int, images: list[str]) -> dict:
        return self._json("POST", f"/projects/{project_id}/labels/qc/reviewed", json={"images": images})

    def labelers(self, project_id: int) -> list[dict]:
        """Per labeler: frames labeled, median seconds per frame, frames QC flags."""
        return self._json("GET", f"/projects/{project_id}/labeling/labelers")

    def show_frames_again(self, project_id: int, fraction: float) -> dict:
        """A ``fraction`` of each labeler's frames shown to them again, blind: ``{"shown": {labeler: n}}``."""
        return self._json("POST", f"/projects/{project_id}/labeling/rechecks", json={"fraction": fraction})

    def consistency(self, project_id: int) -> list[dict]:
        """Per labeler: frames shown again, labeled again, and the distance between their two labels."""
        return self._json("GET", f"/projects/{project_id}/labeling/rechecks")

    def labeling_progress(self, project_id: int) -> dict:
        return self._json("GET", f"/projects/{project_id}/labeling/progress")

    def preannotate(self, project_id: int, model_id: int | None, ensemble_id: int | None) -> dict:
        body = {"model_id": model_id, "ensemble_id": ensemble_id}
        return self._json("POST", f"/projects/{project_id}/labeling/preannotate", json=body)

    def select_frames(
        self, project_id: int, video_id: int, n: int, model_id: int | None, ensemble_id: int | None
    ) -> dict:
        body = {"video_id": video_id, "n": n, "model_id": model_id, "ensemble_id": ensemble_id}
        return self._json("POST", f"/projects/{project_id}/labeling/select", json=body)

    # labeling rounds
    def rounds(self, project_id: int) -> dict:
        """Every round with its frames, progress and results, and the stop hint."""
        return self._json("GET", f"/projects/{project_id}/rounds")

    def start_round(
        self,
        project_id: int,
        budget: int,
        video_ids: list[int] | None,
        model_id: int | None = None,
        ensemble_id: int | None = None,
    ) -> dict:
        body = {"budget": budget, "video_ids": video_ids, "model_id": model_id, "ensemble_id": ensemble_id}
        return self._json("POST", f"/projects/{project_id}/rounds", json=body)

    def train_round(self, project_id: int, number: int, fine_tune: bool, train: dict | None = None) -> dict:
        body = {"fine_tune": fine_tune, "train": train or {}}
        return self._json("POST", f"/projects/{project_id}/rounds/{number}/train", json=body)

    # training and models
    def train_config_schema(self, project_id: int) -> dict:
        return self._json("GET", f"/projects/{project_id}/train-config-schema")

    def models(self, project_id: int) -> list[dict]:
        return self._json("GET", f"/projects/{project_id}/models")

    def ensembles(self, project_id: int) -> list[dict]:
        return self._json("GET", f"/projects/{project_id}/ensembles")

    def train_model(self, project_id: int, name: str, train: dict, start_from: int | None = None) -> dict:
        body = {"name": name, "train": train, "start_from_model": start_from}
        return self._json("POST", f"/projects/{project_id}/models", json=body)

    def train_ensemble(
        self, project_id: int, name: str, train: dict, seeds: list[int], start_from: int | None = None
    ) -> dict:
        body = {"name": name, "train": train, "seeds": seeds, "start_from_ensemble": start_from}
        return self._json("POST", f"/projects/{project_id}/ensembles", json=body)

    def predict(
        self,
        project_id: int,
        video_id: int,
        model_id: int | None,
        ensemble_id: int | None,
        labeled_video: bool | None = None,
    ) -> dict:
        body = {
            "video_id": video_id,
            "model_id": model_id,
            "ensemble_id": ensemble_id,
            "labeled_video": labeled_video,
        }
        return self._json("POST", f"/projects/{project_id}/predictions", json=body)

    def rename_model(self, project_id: int, model_id: int, name: str) -> dict:
        return self._json("PATCH", f"/projects/{project_id}/models/{model_id}", json={"name": name})

    def rename_ensemble(self, project_id: int, ensemble_id: int, name: str) -> dict:
        return self._json("PATCH", f"/projects/{project_id}/ensembles/{ensemble_id}", json={"name": name})

    def delete_model(self, project_id: int, model_id: int) -> None:
        self._call("DELETE", f"/projects/{project_id}/models/{model_id}")

    def delete_ensemble(self, project_id: int, ensemble_id: int) -> None:
        self._call("DELETE", f"/projects/{project_id}/ensembles/{ensemble_id}")

    def labeled_frame_scores(self, project_id: int, model_id: int) -> dict:
        """Per labeled frame and keypoint: split, pixel error, confidence, PCA errors (long columns)."""
        return self._json("GET", f"/projects/{project_id}/models/{model_id}/labeled-frames")

    def traces(
        self,
        project_id: int,
        job_id: int,
        keypoints: list[str] | None = None,
        frames: tuple[int, int] | None = None,
        members: bool = False,
    ) -> dict:
        """A prediction's x, y, likelihood, variances and metrics per frame and keypoint (long
        columns); ``frames``: ``(start, stop)``; ``members``: an ensemble's members too."""
        params: dict = {"members": members}
        if keypoints:
            params["keypoints"] = keypoints
        if frames:
            params["start"], params["stop"] = frames
        return self._json("GET", f"/projects/{project_id}/jobs/{job_id}/traces", params=params)

    @staticmethod
    def labeled_video_path(project_id: int, job_id: int) -> str:
        """The browser's address of a prediction's labeled video (served to the session cookie)."""
        return f"/projects/{project_id}/jobs/{job_id}/labeled-video"

    # comparison in FiftyOne
    def build_comparison(
        self, project_id: int, model_ids: list[int], ensemble_ids: list[int], prediction_job_ids: list[int]
    ) -> dict:
        body = {
            "model_ids": model_ids,
            "ensemble_ids": ensemble_ids,
            "prediction_job_ids": prediction_job_ids,
        }
        return self._json("POST", f"/projects/{project_id}/fiftyone/build", json=body)

    def comparison(self, project_id: int) -> dict:
        return self._json("GET", f"/projects/{project_id}/fiftyone")

    # jobs and workers
    def jobs(self, project_id: int, limit: int = 100) -> list[dict]:
        return self._json("GET", f"/projects/{project_id}/jobs", params={"limit": limit})

    def job(self, project_id: int, job_id: int) -> dict:
        return self._json("GET", f"/projects/{project_id}/jobs/{job_id}")

    def cancel_job(self, project_id: int, job_id: int) -> dict:
        return self._json("POST", f"/projects/{project_id}/jobs/{job_id}/cancel")

    def retry_job(self, project_id: int, job_id: int) -> dict:
        return self._json("POST", f"/projects/{project_id}/jobs/{job_id}/retry")

    def artifact(self, project_id: int, job_id: int, name: str) -> bytes:
        return self._call("GET", f"/projects/{project_id}/jobs/{job_id}/artifacts/{name}").content

    def workers(self) -> list[dict]:
        return self._json("GET", "/workers")

    def health(self) -> dict:
        return self._json("GET", "/health")


def _chunks(data: IO[bytes] | bytes, size: int = 1 << 20) -> Iterable[bytes] | bytes:
    """A file as a stream of chunks, so an upload is never held whole in memory."""
    if isinstance(data, bytes):
        return data
    return iter(lambda: data.read(size), b"")
