"""The ``posecloud`` command line: the pose library's commands, the worker's, and the service's."""

from __future__ import annotations

import argparse
import sys

import core.cli
import worker.cli
from app import rounds_cli
from worker.cli import positive_int

API_WORKERS = 1


def cmd_api(args: argparse.Namespace) -> int:
    from app.api.main import run

    run(args.host, args.port, args.workers)
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    from app.up import run_app

    return run_app(
        args.host,
        args.port,
        args.slots,
        api_workers=args.workers,
        load_example_project=not args.no_example,
        labelstudio_port=None if args.no_labelstudio else args.labelstudio_port,
        mongo_port=None if args.no_fiftyone else args.mongo_port,
        ui_port=None if args.no_ui else args.ui_port,
    )


def cmd_ui(args: argparse.Namespace) -> int:
    from app.settings import Settings
    from app.ui.server import run

    return run(args.port, args.api_url, Settings().data_root / "ui.log")


def cmd_mongo(args: argparse.Namespace) -> int:
    from app.fiftyone.standalone import run

    return run(args.port, args.bind)


def cmd_labelstudio(args: argparse.Namespace) -> int:
    from app.labelstudio.standalone import run

    return run(args.port)


def _add_address(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")


def _add_api_workers(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--workers",
        type=positive_int,
        default=API_WORKERS,
        help=f"API processes (default {API_WORKERS}); more keep pages quick when many are open at once",
    )


def register(sub: argparse._SubParsersAction) -> None:
    """Add the service's commands: api, up, ui, labelstudio."""
    p = sub.add_parser("api", help="serve the HTTP API (settings from POSECLOUD_* variables)")
    _add_address(p)
    _add_api_workers(p)
    p.set_defaults(run=cmd_api)

    p = sub.add_parser(
        "up", help="start Redis, the API and a worker on this machine, with the example project"
    )
    _add_address(p)
    _add_api_workers(p)
    p.add_argument(
        "--slots", type=positive_int, default=1, help="CPU worker slots (one per GPU when CUDA is present)"
    )
    p.add_argument("--no-example", action="store_true", help="do not load the example project")
    p.add_argument(
        "--labelstudio-port", type=int, default=8081, help="Label Studio's port on 127.0.0.1 (default 8081)"
    )
    p.add_argument("--no-labelstudio", action="store_true", help="run without Label Studio")
    p.add_argument(
        "--mongo-port", type=int, default=27117, help="FiftyOne's MongoDB port on 127.0.0.1 (default 27117)"
    )
    p.add_argument("--no-fiftyone", action="store_true", help="run without FiftyOne (and its MongoDB)")
    p.add_argument(
        "--ui-port", type=int, default=8501, help="the front end's port on 127.0.0.1 (default 8501)"
    )
    p.add_argument("--no-ui", action="store_true", help="run without the browser front end")
    p.set_defaults(run=cmd_up)

    p = sub.add_parser(
        "ui", help="run the Streamlit front end alone on 127.0.0.1 (the API serves it under /ui/)"
    )
    p.add_argument("--port", type=int, default=8501, help="port on 127.0.0.1 (default 8501)")
    p.add_argument("--api-url", default="http://127.0.0.1:8000", help="the API the pages call")
    p.set_defaults(run=cmd_ui)

    p = sub.add_parser(
        "labelstudio",
        help="run Label Studio on 127.0.0.1 in the foreground, set up for the API (a container of its own)",
    )
    p.add_argument("--port", type=int, default=8081, help="port on 127.0.0.1 (default 8081)")
    p.set_defaults(run=cmd_labelstudio)

    p = sub.add_parser(
        "mongo", help="run FiftyOne's MongoDB (authentication on) in the foreground (a container of its own)"
    )
    p.add_argument("--port", type=int, default=27117, help="port (default 27117)")
    p.add_argument(
        "--bind", default="127.0.0.1", help="127.0.0.1 (default), or 0.0.0.0 for the containers' network"
    )
    p.set_defaults(run=cmd_mongo)


def build_parser() -> argparse.ArgumentParser:
    """``posecloud``: every layer's commands."""
    return core.cli.build_parser(worker.cli.register, register, rounds_cli.register)


def main(argv: list[str] | None = None) -> int:
    return core.cli.run(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
