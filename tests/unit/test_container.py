"""The container files agree with the code: no Docker engine runs here (nor in CI), so
what a build and a ``docker compose up`` would rely on is checked from the files:
the entry command is a real CLI command, the user is not root, the base image is
pinned, the ledger is on the volume, the health check asks a route that exists,
nothing secret or local reaches the image, and every setting is documented in the
README, in .env.example and read by bot/config.py alike."""

from __future__ import annotations

import ast
import json
import re
import shlex
import tomllib
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from urllib.parse import urlsplit

import pytest
import yaml

from bot.entrypoints.cli import build_parser
from bot.entrypoints.doctor import manifest_scopes
from bot.entrypoints.http import make_wsgi_app
from tests.conftest import REPO

DOCKERFILE = REPO / "Dockerfile"
COMPOSE = REPO / "compose.yaml"
DOCKERIGNORE = REPO / ".dockerignore"
ENV_EXAMPLE = REPO / ".env.example"
README = REPO / "README.md"
# Set by AWS Lambda itself, never by an operator: not a setting to document.
SET_BY_THE_PLATFORM = {"AWS_LAMBDA_FUNCTION_NAME"}


# -- reading the files ----------------------------------------------------------------------------------------


@dataclass
class Stage:
    image: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def values(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]


def dockerfile() -> tuple[dict[str, str], list[Stage]]:
    """The Dockerfile's ARGs before the first FROM, and its stages (continuation lines joined)."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        keyword, rest = keyword.upper(), rest.strip()
        if keyword == "FROM":
            words = rest.split()
            image = re.sub(r"\$\{(\w+)\}", lambda m: args[m[1]], words[0])
            stages.append(Stage(image, words[2] if len(words) > 2 and words[1].upper() == "AS" else None))
        elif not stages and keyword == "ARG":
            name, _, default = rest.partition("=")
            args[name] = default
        else:
            stages[-1].instructions.append((keyword, rest))
    return args, stages


def env_values(stage: Stage) -> dict[str, str]:
    values: dict[str, str] = {}
    for args in stage.values("ENV"):
        for word in shlex.split(args):
            name, _, value = word.partition("=")
            values[name] = value
    return values


def exec_form(args: str) -> list[str]:
    words = json.loads(args)
    assert isinstance(words, list) and all(isinstance(w, str) for w in words), args
    return words


def compose_service() -> dict:
    compose = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert list(compose["services"]) == ["opsbot"]
    return compose["services"]["opsbot"]


def routes() -> dict:
    from bot.bootstrap import build_services
    from bot.config import load_settings

    settings = load_settings(environ={"OPSBOT_EVENTS_FILE": str(REPO / "events.json")}, env_file=None)
    return make_wsgi_app(build_services(settings), None).routes


def health_url(command: list[str]) -> str:
    """The URL a health check command asks (python -c '...urlopen("URL"...)')."""
    [url] = re.findall(r"urlopen\('([^']+)'", " ".join(command))
    return url


# -- Dockerfile -------------------------------------------------------------------------------------------------


def test_the_base_image_is_pinned_to_an_exact_release_or_a_digest():
    _, stages = dockerfile()
    for stage in stages:
        if stage.image in {s.name for s in stages}:
            continue  # a stage built from an earlier one
        name, _, digest = stage.image.partition("@")
        assert digest.startswith("sha256:") or re.fullmatch(r"python:\d+\.\d+\.\d+-slim-\w+", name), stage.image


def test_the_image_runs_as_its_own_user_not_root():
    _, stages = dockerfile()
    final = stages[-1]
    [user] = final.values("USER")
    assert user not in ("root", "0") and not user.startswith(("root:", "0:"))
    created = " ".join(final.values("RUN"))
    match = re.search(r"useradd .*--uid (\d+) .*\b" + re.escape(user) + r"\b", created)
    assert match and int(match[1]) >= 1000, created
    # Nothing after USER switches back.
    keywords = [kw for kw, _ in final.instructions]
    assert keywords.index("USER") > max(i for i, kw in enumerate(keywords) if kw == "RUN")


def test_the_entry_command_is_a_real_cli_command_and_matches_compose():
    _, stages = dockerfile()
    final = stages[-1]
    [entrypoint], [cmd] = final.values("ENTRYPOINT"), final.values("CMD")
    program = exec_form(entrypoint)
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]
    assert program == ["opsbot"] and scripts["opsbot"] == "bot.entrypoints.cli:main"
    args = build_parser().parse_args(exec_form(cmd))  # argparse exits on anything it would refuse
    assert (args.command, args.host, args.port) == ("run", "0.0.0.0", 3000)
    service = compose_service()
    assert service.get("command", exec_form(cmd)) == exec_form(cmd)
    assert "entrypoint" not in service
    [exposed] = final.values("EXPOSE")
    assert int(exposed) == args.port
    assert any(p.endswith(f":{args.port}") for p in service["ports"])


def test_the_ledger_lives_on_the_volume_owned_by_the_bots_user():
    _, stages = dockerfile()
    final = stages[-1]
    store = env_values(final)["OPSBOT_STORE"]
    assert store.startswith("sqlite:////")
    folder = PurePosixPath(store[len("sqlite:///"):]).parent
    assert json.loads(final.values("VOLUME")[0]) == [str(folder)]
    [user] = final.values("USER")
    assert f"chown {user}:{user} {folder}" in " ".join(final.values("RUN"))
    service = compose_service()
    assert service["environment"]["OPSBOT_STORE"] == store
    mounts = {volume.split(":")[1]: volume.split(":")[0] for volume in service["volumes"]}
    named = mounts[str(folder)]
    assert named in yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))["volumes"]  # a named volume, kept


def test_every_file_the_build_copies_is_in_the_build_context():
    _, stages = dockerfile()
    ignored = dockerignore()
    for stage in stages:
        for args in stage.values("COPY"):
            if args.startswith("--from="):
                continue
            *sources, _ = args.split()
            for source in sources:
                assert (REPO / source).exists(), source
                assert not ignored(source), f"{source} is copied but .dockerignore leaves it out"


# -- compose.yaml -----------------------------------------------------------------------------------------------


def test_compose_runs_the_bot_with_env_restarts_it_and_checks_a_real_health_route():
    service = compose_service()
    assert service["env_file"] in (".env", [".env"])
    assert service["restart"] in ("unless-stopped", "always", "on-failure")
    url = urlsplit(health_url(service["healthcheck"]["test"]))
    _, stages = dockerfile()
    [dockerfile_check] = stages[-1].values("HEALTHCHECK")
    assert health_url(exec_form(dockerfile_check[dockerfile_check.index("CMD") + 3:].strip())) == url.geturl()
    assert url.hostname == "127.0.0.1" and url.port == 3000
    assert "GET" in routes()[url.path]  # the route exists and answers GET
    assert service["healthcheck"]["test"][:2] == ["CMD", "python"]  # python is in the image; curl is not


def test_the_events_file_compose_mounts_is_the_one_the_bot_reads():
    service = compose_service()
    events = service["environment"]["OPSBOT_EVENTS_FILE"]
    sources = {volume.split(":")[1]: volume.split(":")[0] for volume in service["volumes"]}
    assert sources[events] == "./events.json" and (REPO / "events.json").is_file()
    assert env_values(dockerfile()[1][-1])["OPSBOT_EVENTS_FILE"] == events


# -- .dockerignore --------------------------------------------------------------------------------------------


def _pattern(rule: str) -> re.Pattern[str]:
    """A .dockerignore rule as Docker reads it: relative to the context, ``**`` any folders."""
    regex = ""
    for part in re.split(r"(\*\*/|\*\*|\*|\?)", rule.strip("/")):
        regex += {"**/": "(?:.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}.get(part, re.escape(part))
    return re.compile(regex)


def dockerignore():
    rules = [line.strip() for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
             if line.strip() and not line.startswith("#")]

    def ignored(path: str) -> bool:
        parts = PurePosixPath(path).parts
        prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]  # a folder's rule covers its files
        verdict = False
        for rule in rules:
            negate = rule.startswith("!")
            if any(_pattern(rule.lstrip("!")).fullmatch(p) for p in prefixes):
                verdict = not negate
        return verdict

    return ignored


@pytest.mark.parametrize("path", [
    ".env", ".env.local", "opsbot.db", "opsbot.db-wal", "opsbot.db-shm", "data/opsbot.db", ".venv/bin/python",
    "tests/e2e/test_cli.py", "tests/fakes/stripe_api.py", "bench/ledger_bench.py", ".git/config",
    "bot/__pycache__/cli.cpython-311.pyc", "opsbot.egg-info/PKG-INFO",
])
def test_secrets_ledgers_and_local_files_never_reach_the_image(path):
    assert dockerignore()(path)


@pytest.mark.parametrize("path", ["bot/entrypoints/cli.py", "infra/sqlite_store.py", "pyproject.toml", "README.md",
                                  "requirements.txt", "events.json", "manifest.json", "sites/birthday/index.html"])
def test_what_the_image_needs_is_sent(path):
    assert not dockerignore()(path)


def test_the_doctor_finds_the_manifest_beside_the_working_directory_when_installed(tmp_path):
    # Installed in the image, the code is in site-packages; the image's /app/manifest.json is the cwd's.
    copy = tmp_path / "manifest.json"
    copy.write_text((REPO / "manifest.json").read_text(encoding="utf-8"))
    assert manifest_scopes(tmp_path / "site-packages" / "manifest.json", copy) == manifest_scopes()
    assert manifest_scopes(tmp_path / "nowhere.json") is None


# -- settings: README, .env.example and bot/config.py agree --------------------------------------------------------


def readme_variables() -> set[str]:
    text = README.read_text(encoding="utf-8")
    table = text[text.index("## Configuration"):]
    table = table[:table.index("\n## ")]
    return {name for row in table.splitlines() if row.startswith("| `")
            for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", row.split("|")[1])}


def env_example_variables() -> tuple[set[str], str]:
    text = ENV_EXAMPLE.read_text(encoding="utf-8")
    assigned = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", text, flags=re.MULTILINE))
    return assigned, text


def config_variables() -> set[str]:
    """Every environment variable bot/config.py reads: the string constants it looks up."""
    tree = ast.parse((REPO / "bot" / "config.py").read_text(encoding="utf-8"))
    names = {node.value for node in ast.walk(tree)
             if isinstance(node, ast.Constant) and isinstance(node.value, str)
             and re.fullmatch(r"(?:SLACK|OPSBOT|AWS|STRIPE|ADMIN|SES)_[A-Z0-9_]+", node.value)}
    return names


def test_every_setting_the_code_reads_is_in_the_readme():
    missing = config_variables() - readme_variables() - SET_BY_THE_PLATFORM
    assert missing == set(), f"bot/config.py reads {sorted(missing)}: add them to README.md's Configuration table"


def test_every_readme_setting_is_in_env_example_and_nothing_else_is():
    assigned, text = env_example_variables()
    readme = readme_variables()
    missing = {name for name in readme if not re.search(rf"\b{name}\b", text)}
    assert missing == set(), f"README.md documents {sorted(missing)}: add them to .env.example"
    unknown = assigned - readme
    assert unknown == set(), f".env.example sets {sorted(unknown)}, which README.md does not document"
    assert readme - SET_BY_THE_PLATFORM <= config_variables(), "README.md documents a variable nothing reads"


def test_env_example_is_a_file_the_bot_reads_without_complaint(tmp_path):
    from bot.config import load_settings

    settings = load_settings(environ={}, env_file=ENV_EXAMPLE)  # every value blank or commented: the defaults
    assert settings.store.kind == "sqlite" and settings.slack_bot_token is None
