"""What `sam build` ships: the Makefile's build target (the template's BuildMethod),
run here with pip skipped, on a copy of the checkout salted with what a developer's
checkout holds (a ledger, .env, caches). Only runtime code (compiled, for Lambda's 3.11),
events.json and sites/."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO

RUNTIME_PACKAGES = ("bot", "handlers", "blocks", "infra")
STRAYS = ["opsbot.db", "opsbot.db-wal", "opsbot.db-shm", ".env", "bot/__pycache__/app.cpython-311.pyc",
          "sites/birthday/.DS_Store", "notes.txt", "data/opsbot.db", "handlers/scratch.db"]
LAMBDA_PYTHON = "3.11"  # the template's Runtime, and the Makefile's
PYC_FLAGS_CHECKED_HASH = 0b11  # PEP 552: the source's hash in the header, checked at import


def builds_bytecode() -> bool:
    """The build target compiles the runtime packages only when its python3 is Lambda's 3.11."""
    version = subprocess.run(["python3", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    return version == LAMBDA_PYTHON


def bytecode_of(source: str) -> str:
    """Where Python 3.11 looks for a module's compiled form."""
    path = Path(source)
    return str(path.parent / "__pycache__" / f"{path.stem}.cpython-311.pyc")


def tracked_files() -> list[str]:
    listed = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True)
    return [line for line in listed.stdout.splitlines() if (REPO / line).is_file()]


def expected_package(files: list[str], *, compiled: bool) -> set[str]:
    code = {f for f in files if f.split("/")[0] in RUNTIME_PACKAGES and f.endswith(".py")}
    return (code | ({bytecode_of(f) for f in code} if compiled else set())
            | {f for f in files
               if f == "events.json" or (f.startswith("sites/") and not any(p.startswith(".") for p in f.split("/")))})


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, set[str]]:
    """(ARTIFACTS_DIR after the build target, what it should hold)."""
    if shutil.which("make") is None:
        pytest.fail("make is not installed: `sam build` needs it for this template (apt-get install make)")
    checkout = tmp_path_factory.mktemp("checkout")
    files = tracked_files()
    for name in files:
        (checkout / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, checkout / name)
    for name in STRAYS:
        (checkout / name).parent.mkdir(parents=True, exist_ok=True)
        (checkout / name).write_text("not for AWS")
    artifacts = tmp_path_factory.mktemp("artifacts")
    subprocess.run(["make", "--silent", "build-OpsbotFunction", f"ARTIFACTS_DIR={artifacts}", "SKIP_PIP=1"],
                   cwd=checkout, check=True, capture_output=True, text=True)
    return artifacts, expected_package(files, compiled=builds_bytecode())


@pytest.fixture(scope="module")
def package(built) -> tuple[set[str], set[str]]:
    """(what the build target put in ARTIFACTS_DIR, what it should have)."""
    artifacts, expected = built
    return {str(p.relative_to(artifacts)) for p in artifacts.rglob("*") if p.is_file()}, expected


def test_the_package_holds_exactly_the_runtime_code_events_and_sites(package):
    shipped, expected = package
    assert shipped == expected, {"stray": sorted(shipped - expected), "missing": sorted(expected - shipped)}


def test_nothing_of_a_developers_checkout_ships(package):
    shipped, _ = package
    assert not set(STRAYS) & shipped
    assert not [f for f in shipped if f.startswith(("tests/", "bench/", ".")) or f.endswith((".db", ".yaml", ".md",
                                                                                              ".toml"))]
    assert not [f for f in shipped if f.endswith(".pyc") and f.replace("__pycache__/", "").replace(
        ".cpython-311.pyc", ".py") not in shipped], "bytecode of a module that does not ship"
    assert {"bot/entrypoints/aws_lambda.py", "events.json", "sites/gipsykings/index.html"} <= shipped


def test_every_module_ships_compiled_from_the_shipped_source(built):
    """Lambda cannot write bytecode (/var/task is read-only): each module's .pyc is in the package, made
    from the very source beside it, and checked against it at import (a changed source is recompiled)."""
    artifacts, _ = built
    if not builds_bytecode():
        pytest.skip(f"python3 is not {LAMBDA_PYTHON}: the build target ships no bytecode (it says so)")
    sources = sorted(artifacts.glob("*/**/*.py"))
    assert len(sources) > 50
    for source in sources:
        header = (artifacts / bytecode_of(str(source.relative_to(artifacts)))).read_bytes()[:16]
        assert header[:4] == importlib.util.MAGIC_NUMBER, source  # this interpreter (3.11) loads it
        assert int.from_bytes(header[4:8], "little") == PYC_FLAGS_CHECKED_HASH, source
        assert header[8:16] == importlib.util.source_hash(source.read_bytes()), source
