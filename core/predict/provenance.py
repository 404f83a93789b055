"""What an NWB pose file records about where its poses came from: the model or the ensemble (its
name and settings, the project's skeleton) and the video (frame rate, size, camera)."""

from __future__ import annotations

from pathlib import Path

from core.config import ProjectConfig
from core.data.cameras import camera_session
from core.labels.nwb import NwbVideo, Provenance
from core.predict.trained_model import load_model_config
from core.video.reader import probe_video


def _settings(model_dir: Path) -> dict:
    """A model's project and training settings (the split of its labeled frames left out)."""
    project, train = load_model_config(model_dir)
    return {"project": project.model_dump(mode="json"), "train": train.model_dump(mode="json")}


def smoothing_method(s: float | None) -> str:
    """How the EKS smoothing parameter ``s`` was chosen, as every EKS file records it."""
    return f"s = {s} px² per frame" if s is not None else "s fitted per keypoint by leave-one-out error"


def model_provenance(model_dir: Path, name: str | None = None) -> Provenance:
    """One model: its name (the scorer of its prediction CSVs; by default its folder's name, which
    is the name a user gave it on the command line, while the service keeps models in numbered
    folders and passes the name it shows) and settings."""
    return Provenance(
        name or Path(model_dir).resolve().name,
        _settings(model_dir),
        list(load_model_config(model_dir)[0].skeleton),
    )


def ensemble_provenance(
    member_dirs: list[Path],
    smoothing: str | None,
    name: str | None = None,
    member_names: list[str] | None = None,
) -> Provenance:
    """An ensemble's EKS: its name, each member's settings under the member's name, and
    ``smoothing`` (``smoothing_method``; None when not known, as for a CSV smoothed elsewhere).

    The names default to the folders' (the ensemble folder's, or the members' names joined by ``+``
    when they are not in one folder); the service passes the names it shows.
    """
    folders = {Path(d).resolve().parent for d in member_dirs}
    names = member_names or [Path(d).resolve().name for d in member_dirs]
    config: dict = {"method": "Ensemble Kalman Smoother over the members' predictions"}
    if smoothing is not None:
        config["smoothing"] = smoothing
    config["members"] = {member: _settings(d) for member, d in zip(names, member_dirs, strict=True)}
    scorer = name or (folders.pop().name if len(folders) == 1 else "+".join(names))
    return Provenance(scorer, config, list(load_model_config(member_dirs[0])[0].skeleton))


def nwb_video(video: Path, project: ProjectConfig | None) -> NwbVideo:
    """The video as an NWB file describes it; its camera is the view it shows in a project of
    separate cameras (``camera`` otherwise, or without a project)."""
    info = probe_video(video)
    found = camera_session(video.name, project.views) if project and project.separate_cameras else None
    return NwbVideo(
        info.path, info.fps, info.width, info.height, info.frame_count, found[1] if found else "camera"
    )
