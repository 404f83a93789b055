"""What the README (and the other documents a user reads) says about the code, checked against the
code: every command line parses with the real ``posecloud`` parser, every ``make`` target exists,
every file, folder, module and symbol named exists, every HTTP route named is served with that
method, every ``POSECLOUD_*`` variable is read and its stated default is the setting's, every link
and anchor resolves. A renamed option, route or file fails here instead of misleading a reader."""

from __future__ import annotations

import importlib
import re
import shlex

import pytest
from starlette.routing import Match

from app.cli import build_parser
from app.settings import Settings
from tests.testdata import REPO

DOCUMENTS = ["README.md", "SECURITY.md"]
TOP_FOLDERS = ("app", "worker", "core", "tests", "benchmarks", "examples", "docs")
HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
UNITS = {"": 1, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3}


def _text(document: str) -> str:
    return (REPO / document).read_text()


def _fenced_lines(text: str) -> list[str]:
    """The lines of the fenced code blocks, continuation lines joined and comments dropped."""
    lines = []
    for block in re.findall(r"```[^\n]*\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = re.split(r"\s#\s", line)[0].strip()
            if line:
                lines.append(line)
    return lines


def _spans(text: str) -> list[str]:
    """The inline code spans outside fenced blocks."""
    return re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", text, flags=re.S))


def _subparsers() -> dict:
    (action,) = [a for a in build_parser()._actions if a.__class__.__name__ == "_SubParsersAction"]
    return action.choices


def _cases(kind: str) -> list:
    """``(document, claim)`` pairs of one kind, for parametrized tests that name what failed."""
    found = []
    for document in DOCUMENTS:
        text = _text(document)
        claims = {
            "command": [line for line in _fenced_lines(text) if line.startswith("posecloud ")],
            "command span": [s for s in _spans(text) if s.startswith("posecloud ")],
            "make": [
                m.group(1)
                for s in _spans(text) + _fenced_lines(text)
                if (m := re.match(r"make ([a-z][\w-]*)", s))
            ],
            "path": [
                s.split(" ")[0].rstrip(",.:")
                for s in _spans(text) + [w for line in _fenced_lines(text) for w in line.split()]
                if s.startswith(tuple(f"{f}/" for f in TOP_FOLDERS))
            ],
            "dotted": [s for s in _spans(text) if re.fullmatch(r"(core|worker|app)(\.\w+)+", s)],
            "route": _routes(text),
            "variable": sorted(set(re.findall(r"POSECLOUD_[A-Z0-9_]+", text))),
            "default": re.findall(r"`POSECLOUD_([A-Z0-9_]+)`\s*\(default ([^,;)]+)", text),
            "link": [t for t in re.findall(r"\]\(([^)\s]+)\)", text) if not t.startswith(("http", "mailto"))],
        }[kind]
        found += [(document, claim) for claim in dict.fromkeys(claims)]
    return found


def _routes(text: str) -> list[tuple[str, str]]:
    """``(method, path)`` of the routes named: ``GET /path`` spans and the curl lines' requests."""
    routes = [
        (m.group(1), m.group(2))
        for s in _spans(text)
        if (m := re.fullmatch(rf"({'|'.join(HTTP_METHODS)}) (/\S*)", s))
    ]
    for line in _fenced_lines(text):
        for command in re.findall(r"curl [^|;)]*", line):
            words = shlex.split(command)
            url = next((w for w in words if w.startswith(("localhost:", "127.0.0.1:"))), None)
            if url is None:
                continue
            method = words[words.index("-X") + 1] if "-X" in words else "POST" if "-d" in words else "GET"
            routes.append((method, "/" + url.split("/", 1)[1]))
    return routes


@pytest.mark.parametrize(("document", "line"), _cases("command"))
def test_every_command_line_parses(document: str, line: str) -> None:
    words = shlex.split(line)[1:]
    try:
        args = build_parser().parse_args(words)
    except SystemExit:
        pytest.fail(f"{document}: `{line}` does not parse with posecloud's options")
    for setting in getattr(args, "set", None) or []:  # --set KEY=VALUE: a training setting
        key = setting.split("=", 1)[0]
        assert key in _train_settings(), f"{document}: `--set {key}` is not a training setting"


def _train_settings() -> set[str]:
    from core.config import TrainConfig

    return set(TrainConfig.model_fields)


@pytest.mark.parametrize(("document", "span"), _cases("command span"))
def test_every_command_named_inline_exists_with_its_options(document: str, span: str) -> None:
    """Inline spans are often synopses (``[--device auto|cpu|cuda]``): the command and each option
    must exist."""
    words = span.split()
    subparsers = _subparsers()
    assert words[1] in subparsers, f"{document}: `{span}` names no posecloud command"
    options = subparsers[words[1]]._option_string_actions
    for option in re.findall(r"(?<![\w-])(--?[a-z][\w-]*)", span):
        assert option in options, f"{document}: `{span}`: posecloud {words[1]} has no {option}"


@pytest.mark.parametrize(("document", "target"), _cases("make"))
def test_every_make_target_exists(document: str, target: str) -> None:
    makefile = (REPO / "Makefile").read_text()
    assert re.search(rf"^{re.escape(target)}:", makefile, re.M), f"{document}: no `make {target}`"


@pytest.mark.parametrize(("document", "path"), _cases("path"))
def test_every_file_named_exists(document: str, path: str) -> None:
    if re.search(r"[<{*]|\.\.\.", path):  # a pattern (``<video>.csv``, ``seed*``): its folder must exist
        path = re.split(r"[^/]*[<{*]", path)[0]
    assert (REPO / path).exists(), f"{document} names {path}, which is not in the repository"


@pytest.mark.parametrize(("document", "name"), _cases("dotted"))
def test_every_module_and_symbol_named_exists(document: str, name: str) -> None:
    parts = name.split(".")
    for split in range(len(parts), 0, -1):
        try:
            found = importlib.import_module(".".join(parts[:split]))
        except ModuleNotFoundError:
            continue
        for attribute in parts[split:]:
            assert hasattr(found, attribute), f"{document} names {name}; {attribute} is not there"
            found = getattr(found, attribute)
        return
    pytest.fail(f"{document} names {name}, which is no module")


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> list:
    """The API's routes (the app built, not started)."""
    from app.api.factory import create_app

    return create_app(Settings(data_root=tmp_path_factory.mktemp("readme"))).router.routes


@pytest.mark.parametrize(("document", "route"), _cases("route"))
def test_every_route_named_is_served(document: str, route: tuple[str, str], served: list) -> None:
    method, path = route
    path = re.sub(r"\{[^}]*\}", "1", path.split("?")[0])  # {id}, {video}, ... stand for numbers
    scope = {"type": "http", "path": path, "method": method, "root_path": "", "headers": []}
    matches = {r.matches(scope)[0] for r in served} - {Match.NONE}
    assert matches, f"{document}: {method} {path} matches no route of the API"
    assert Match.FULL in matches, f"{document}: {path} does not take {method}"


@pytest.mark.parametrize(("document", "variable"), _cases("variable"))
def test_every_variable_named_is_read(document: str, variable: str) -> None:
    field = variable.removeprefix("POSECLOUD_").lower()
    if field in Settings.model_fields:
        return
    readers = [
        p
        for folder in ("app", "worker", "core")
        for p in (REPO / folder).rglob("*.py")
        if variable in p.read_text()
    ]
    deployment = [p for p in ("docker-compose.yml", "Makefile") if variable in (REPO / p).read_text()]
    assert readers or deployment, f"{document} names {variable}; nothing reads it"


@pytest.mark.parametrize(("document", "claim"), _cases("default"))
def test_every_stated_default_is_the_settings(document: str, claim: tuple[str, str]) -> None:
    name, stated = claim
    field = Settings.model_fields.get(name.lower())
    if field is None or field.default_factory is not None:
        return  # not a setting of ours (compose's), or computed
    stated = stated.strip()
    if number := re.fullmatch(r"([\d.]+)\s*(KiB|MiB|GiB)?", stated):
        value = float(number.group(1)) * UNITS[number.group(2) or ""]
        assert value == float(field.default), f"{document}: POSECLOUD_{name} defaults to {field.default}"
    elif literal := re.fullmatch(r"`([^`<]+)`", stated):
        expected = str(field.default)
        assert literal.group(1).removeprefix("./") == expected, f"{document}: POSECLOUD_{name}: {expected}"


@pytest.mark.parametrize(("document", "target"), _cases("link"))
def test_every_link_resolves(document: str, target: str) -> None:
    if target.startswith("#"):
        headings = re.findall(r"^#+ (.+)$", _text(document), re.M)
        slugs = {re.sub(r"[^\w\- ]", "", h).strip().lower().replace(" ", "-") for h in headings}
        assert target[1:] in slugs, f"{document}: no heading for {target}"
    else:
        assert (REPO / target.split("#")[0]).exists(), f"{document} links {target}, which is not here"


def test_the_layout_section_names_real_folders_and_files() -> None:
    """Each bullet under a top folder of "## Layout" names files and subfolders that exist there."""
    layout = _text("README.md").split("## Layout", 1)[1].split("\n## ", 1)[0]
    top = None
    checked = 0
    for line in layout.splitlines():
        if m := re.match(r"- `(\w+)/`", line):
            top = REPO / m.group(1)
        elif top is not None and line.startswith("  - "):
            for name in re.findall(r"`([\w-]+(?:/|\.py))`", line):
                assert next(top.rglob(name.rstrip("/")), None), f"README's layout: no {name} in {top.name}/"
                checked += 1
    assert checked > 20  # the section was found and read


def test_the_claims_are_found() -> None:
    """The extraction itself: a README edit that hides every claim from these tests fails here."""
    assert len(_cases("command")) >= 15 and len(_cases("route")) >= 10 and len(_cases("default")) >= 5
    assert ("README.md", "posecloud up") in _cases("command span")
    assert ("README.md", ("POST", "/projects/1/ensembles")) in _cases("route")
