"""``posecloud rounds``: a project's labeling rounds on a running posecloud service, from a terminal
or a script: list them, show one round's frames, start a round, train on a labeled round.

The commands talk to the service over HTTP as a signed-in user (``app.client``, the pages' client),
so they see and may do what that user may in the browser. The user's token comes from
``POSECLOUD_TOKEN``, or a password from ``POSECLOUD_PASSWORD`` (else asked for) with ``--user``.
"""

from __future__ import annotations

import argparse
import getpass
import os
from typing import TYPE_CHECKING

from core.errors import PoseCloudError
from worker.cli import positive_int

if (
    TYPE_CHECKING
):  # imported when a command runs: `posecloud --help` and the other commands start without httpx
    from app.client import Api

TOKEN_ENV = "POSECLOUD_TOKEN"
PASSWORD_ENV = "POSECLOUD_PASSWORD"
SERVER_ENV = "POSECLOUD_SERVER"


class ServiceError(PoseCloudError):
    """The service refused a request, in its own words."""


def connect(args: argparse.Namespace) -> Api:
    """The API as the user the environment or ``--user`` names."""
    from app.client import Api

    if token := os.environ.get(TOKEN_ENV):
        return Api(args.server, token)
    if not args.user:
        raise ServiceError(
            f"who is asking? Set {TOKEN_ENV} to a token (POST /auth/login), or pass --user NAME "
            f"(the password from {PASSWORD_ENV}, else asked for)"
        )
    password = os.environ.get(PASSWORD_ENV) or getpass.getpass(f"{args.user}'s posecloud password: ")
    return Api.sign_in(args.server, args.user, password)


def find_project(api: Api, wanted: str) -> dict:
    """The user's project called ``wanted``, or numbered so."""
    projects = api.projects()
    found = [p for p in projects if str(p["id"]) == wanted] or [p for p in projects if p["name"] == wanted]
    if len(found) == 1:
        return found[0]
    if found:
        numbers = ", ".join(f"{p['id']} (owner {p['owner']})" for p in found)
        raise ServiceError(f"{len(found)} of your projects are called {wanted!r}: {numbers}; give its number")
    names = ", ".join(f"{p['name']!r} ({p['id']})" for p in projects) or "none"
    raise ServiceError(f"you have no project {wanted!r}; yours: {names}")


def _one_named(items: list[dict], name: str, what: str) -> dict:
    found = [item for item in items if item["name"] == name]
    if not found:
        have = ", ".join(repr(item["name"]) for item in items) or "none"
        raise ServiceError(f"the project has no {what} {name!r}; it has: {have}")
    return found[0]


def _px(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} px"


def cmd_list(api: Api, project: dict, args: argparse.Namespace) -> None:
    listed = api.rounds(project["id"])
    if not listed["rounds"]:
        print(f"{project['name']} has no labeling rounds yet: start one with `posecloud rounds start`.")
        return
    print(
        f"{'round':>5}  {'state':<13} {'labeled':>9}  {'spread':>10}  {'trained':<16} {'frames':>6}  test error"
    )
    for r in listed["rounds"]:
        print(
            f"{r['number']:>5}  {r['state']:<13} {r['labeled']:>4}/{r['budget']:<4}  {_px(r['spread_px']):>10}  "
            f"{r['trained'] or '-':<16} {r['labeled_frames'] or '-':>6}  {_px(r['test_px_error'])}"
        )
    if listed["stop_hint"]:
        print(f"\n{listed['stop_hint']}")


def cmd_show(api: Api, project: dict, args: argparse.Namespace) -> None:
    r = next((r for r in api.rounds(project["id"])["rounds"] if r["number"] == args.number), None)
    if r is None:
        raise ServiceError(
            f"{project['name']} has no round {args.number}; `posecloud rounds list` shows them"
        )
    start = r["started_from"] or "varied postures (no model yet)"
    print(f"Round {r['number']}: {r['state']}, from {start}, on {', '.join(r['videos'])}")
    print(f"{r['labeled']} of {len(r['frames'])} picked frames labeled (budget {r['budget']})")
    for frame in r["frames"]:
        print(f"  [{'x' if frame['labeled'] else ' '}] {frame['image']}  ({', '.join(frame['reasons'])})")


def cmd_start(api: Api, project: dict, args: argparse.Namespace) -> None:
    pid = project["id"]
    video_ids = None
    if args.video:
        videos = [{**v, "name": v["filename"]} for v in api.videos(pid)]
        video_ids = [_one_named(videos, name, "video")["id"] for name in args.video]
    model_id = _one_named(api.models(pid), args.model, "model")["id"] if args.model else None
    ensemble_id = _one_named(api.ensembles(pid), args.ensemble, "ensemble")["id"] if args.ensemble else None
    started = api.start_round(pid, args.budget, video_ids, model_id, ensemble_id)
    start = started["started_from"] or "varied postures (no model yet)"
    print(
        f"Round {started['number']} is picking {args.budget} frames from {', '.join(started['videos'])} "
        f"with {start}; label them in Label Studio, then `posecloud rounds train {started['number']}`."
    )


def cmd_train(api: Api, project: dict, args: argparse.Namespace) -> None:
    trained = api.train_round(project["id"], args.number, fine_tune=not args.scratch)
    how = "from scratch" if args.scratch else "fine-tuning from the round's start"
    print(f"Round {trained['number']} is training {trained['trained']} ({how}); see `posecloud rounds list`.")


def run(args: argparse.Namespace) -> int:
    from app.client import ApiError

    try:
        api = connect(args)
        args.action(api, find_project(api, args.project), args)
    except ApiError as e:
        raise ServiceError(e.detail) from None
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``posecloud rounds list|show|start|train``."""
    rounds = sub.add_parser(
        "rounds",
        help="a project's labeling rounds on a running posecloud service (list, show, start, train)",
        description="A project's labeling rounds on a running posecloud service: list them, show a round's "
        "frames, start the next round, train on a labeled round.",
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--project", required=True, help="the project's name or number")
    common.add_argument(
        "--server",
        default=os.environ.get(SERVER_ENV, "http://127.0.0.1:8000"),
        help=f"the service's address (default: ${SERVER_ENV} or http://127.0.0.1:8000)",
    )
    common.add_argument("--user", help=f"your username, when {TOKEN_ENV} is not set")
    actions = rounds.add_subparsers(dest="rounds_command", required=True, metavar="ACTION", help="what to do")

    p = actions.add_parser("list", parents=[common], help="every round: state, labels, spread, test error")
    p.set_defaults(run=run, action=cmd_list)

    p = actions.add_parser("show", parents=[common], help="one round's picked frames and why each was picked")
    p.add_argument("number", type=positive_int, help="the round's number (`posecloud rounds list`)")
    p.set_defaults(run=run, action=cmd_show)

    p = actions.add_parser(
        "start",
        parents=[common],
        help="start the next round: pick frames to label where the last round's model fails",
    )
    p.add_argument(
        "--budget", type=positive_int, required=True, help="frames to label, spread across the videos"
    )
    p.add_argument("--video", action="append", help="a video to mine (repeat; default: all the project's)")
    start_from = p.add_mutually_exclusive_group()
    start_from.add_argument("--ensemble", help="mine with this ensemble (default: the last round's)")
    start_from.add_argument("--model", help="mine with this model")
    p.set_defaults(run=run, action=cmd_start)

    p = actions.add_parser("train", parents=[common], help="train on a round whose frames are all labeled")
    p.add_argument("number", type=positive_int, help="the round's number (`posecloud rounds list`)")
    p.add_argument(
        "--scratch",
        action="store_true",
        help="train from scratch instead of fine-tuning from the round's start",
    )
    p.set_defaults(run=run, action=cmd_train)
