"""Request and response bodies of the HTTP API."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

USERNAME_PATTERN = r"^[A-Za-z0-9_.-]+$"


class UserCreate(BaseModel):
    username: str = Field(min_length=3, max_length=64, pattern=USERNAME_PATTERN)
    password: str = Field(min_length=8, max_length=256)


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_at: datetime


class ProjectCreate(BaseModel):
    """A new project; names in ``skeleton`` must be keypoints (checked like a project.yaml)."""

    name: str = Field(min_length=1, max_length=200)
    keypoints: list[str] = Field(min_length=1, description="body part names, in label-file column order")
    skeleton: list[tuple[str, str]] = Field(default_factory=list, description="edges between keypoints")
    views: list[str] = Field(default_factory=lambda: ["main"], min_length=1, description="camera views")


class ProjectOut(BaseModel):
    id: int
    name: str
    owner: str
    members: list[str]
    keypoints: list[str]
    skeleton: list[tuple[str, str]]
    views: list[str]
    created_at: datetime


class MemberAdd(BaseModel):
    username: str = Field(min_length=1, max_length=64)


class VideoOut(BaseModel):
    """An uploaded video: frame rate (frames/s), frame count, size in pixels, codec, file size (bytes)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    project_id: int
    filename: str
    size_bytes: int
    fps: float
    frames: int
    width: int
    height: int
    codec: str
    created_at: datetime
