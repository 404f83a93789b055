"""Project roles: what each member of a project may do, and what each route of a project needs.

- owner: everything, and the project itself (members and their roles, deleting it);
- trainer: label, train, predict, compare (the lab member who runs the models);
- labeler: label and see the frames and labels, nothing of the models, videos or comparisons;
- viewer: read everything, change nothing.

Every route under ``/projects/{project_id}`` and the FiftyOne proxy is named in ``ROUTE_ACTIONS``
with the action it needs; a route missing there is refused (``tests/app/api/test_roles.py`` fails
on it first). The Label Studio proxy asks for ``label`` on every write and ``frames`` to read.
"""

from __future__ import annotations

from typing import Literal

from worker.state.db.models import Project, User

Role = Literal["owner", "trainer", "labeler", "viewer"]
Action = Literal["frames", "read", "label", "train", "manage"]
MEMBER_ROLES: tuple[Role, ...] = ("trainer", "labeler", "viewer")

PERMITS: dict[Role, frozenset[Action]] = {
    "owner": frozenset({"frames", "read", "label", "train", "manage"}),
    "trainer": frozenset({"frames", "read", "label", "train"}),
    "labeler": frozenset({"frames", "label"}),
    "viewer": frozenset({"frames", "read"}),
}
WHAT_ROLES_DO: dict[Role, str] = {
    "owner": "everything",
    "trainer": "label, train, predict and compare",
    "labeler": "label and see the frames and labels",
    "viewer": "read",
}
ACTION_WORDS: dict[Action, str] = {
    "frames": "see the frames and labels of",
    "read": "see the models, videos and results of",
    "label": "change the labels of",
    "train": "train, predict or compare in",
    "manage": "change the members of, or delete,",
}

P = "/projects/{project_id}"
ROUTE_ACTIONS: dict[tuple[str, str], Action] = {
    ("GET", P): "frames",
    ("DELETE", P): "manage",
    ("POST", f"{P}/members"): "manage",
    ("PATCH", f"{P}/members/{{username}}"): "manage",
    ("DELETE", f"{P}/members/{{username}}"): "manage",
    # videos
    ("POST", f"{P}/videos"): "train",
    ("GET", f"{P}/videos"): "read",
    ("GET", f"{P}/videos/{{video_id}}"): "read",
    ("GET", f"{P}/videos/{{video_id}}/file"): "read",
    ("GET", f"{P}/videos/{{video_id}}/frames/{{index}}"): "read",
    ("POST", f"{P}/videos/{{video_id}}/extract-frames"): "label",
    # labels and labeling
    ("PUT", f"{P}/labels"): "label",
    ("GET", f"{P}/labels"): "frames",
    ("GET", f"{P}/labels/versions"): "frames",
    ("GET", f"{P}/labels/versions/compare"): "frames",
    ("GET", f"{P}/labels/versions/{{number}}"): "frames",
    ("POST", f"{P}/labels/versions/{{number}}/restore"): "label",
    ("GET", f"{P}/labels/qc"): "frames",
    ("POST", f"{P}/labels/qc/reviewed"): "label",
    ("POST", f"{P}/labeling"): "label",
    ("POST", f"{P}/labeling/sync"): "label",
    ("GET", f"{P}/labeling/progress"): "frames",
    ("GET", f"{P}/labeling/tasks"): "frames",
    ("POST", f"{P}/labeling/preannotate"): "train",
    ("POST", f"{P}/labeling/select"): "train",
    ("GET", f"{P}/labeling/labelers"): "read",
    ("POST", f"{P}/labeling/rechecks"): "train",  # showing labelers their frames again runs the project
    ("GET", f"{P}/labeling/rechecks"): "read",
    # labeling rounds (mining frames with a model and training are trainers' work)
    ("POST", f"{P}/rounds"): "train",
    ("GET", f"{P}/rounds"): "read",
    ("GET", f"{P}/rounds/{{number}}"): "read",
    ("POST", f"{P}/rounds/{{number}}/train"): "train",
    ("GET", f"{P}/frames/{{image:path}}"): "frames",
    # models, predictions, jobs (a labeler follows the frame jobs of the labeling page)
    ("POST", f"{P}/models"): "train",
    ("GET", f"{P}/models"): "read",
    ("GET", f"{P}/models/{{model_id}}"): "read",
    ("PATCH", f"{P}/models/{{model_id}}"): "train",
    ("DELETE", f"{P}/models/{{model_id}}"): "train",
    ("GET", f"{P}/models/{{model_id}}/labeled-frames"): "read",
    ("POST", f"{P}/ensembles"): "train",
    ("GET", f"{P}/ensembles"): "read",
    ("GET", f"{P}/ensembles/{{ensemble_id}}"): "read",
    ("PATCH", f"{P}/ensembles/{{ensemble_id}}"): "train",
    ("DELETE", f"{P}/ensembles/{{ensemble_id}}"): "train",
    ("POST", f"{P}/predictions"): "train",
    ("GET", f"{P}/train-config-schema"): "read",
    ("GET", f"{P}/jobs"): "frames",
    ("GET", f"{P}/jobs/{{job_id}}"): "frames",
    ("POST", f"{P}/jobs/{{job_id}}/cancel"): "train",
    ("POST", f"{P}/jobs/{{job_id}}/retry"): "train",
    ("GET", f"{P}/jobs/{{job_id}}/artifacts/{{name}}"): "read",
    ("GET", f"{P}/jobs/{{job_id}}/traces"): "read",
    ("GET", f"{P}/jobs/{{job_id}}/labeled-video"): "read",
    # FiftyOne
    ("POST", f"{P}/fiftyone/build"): "train",
    ("GET", f"{P}/fiftyone"): "read",
    **{
        (method, "/fiftyone/{project_id}/{path:path}"): "read"
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
    },
}


def role_of(project: Project, user: User) -> Role | None:
    """The user's role in the project; None when they are not in it."""
    if project.owner_id == user.id:
        return "owner"
    return next((m.role for m in project.members if m.user_id == user.id), None)


def refusal(project: Project, role: Role, action: Action) -> str:
    """Why ``role`` may not do ``action`` in the project, and what to do."""
    return (
        f"your role in project {project.id} is {role}, which may {WHAT_ROLES_DO[role]}: it cannot "
        f"{ACTION_WORDS[action]} the project; ask its owner ({project.owner.username}) for another role"
    )


def route_action(method: str, path: str) -> Action | None:
    """What the route ``method path`` (its template) needs; None for a route not in the table."""
    return ROUTE_ACTIONS.get(("GET" if method == "HEAD" else method, path))
