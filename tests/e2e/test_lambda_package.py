"""What `sam build` ships: the Makefile's build target (the template's BuildMethod),
run here with pip skipped, on a copy of the checkout salted with what a developer's
checkout holds (a ledger, .env, caches). Only runtime code, events.json and sites/."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.conftest import REPO

RUNTIME_PACKAGES = ("bot", "handlers", "blocks", "infra")
STRAYS = ["opsbot.db", "opsbot.db-wal", "opsbot.db-shm", ".env", "bot/__pycache__/app.cpython-311.pyc",
          "sites/birthday/.DS_Store", "notes.txt", "data/opsbot.db", "handlers/scratch.db"]


def tracked_files() -> list[str]:
    listed = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True)
    return [line for line in listed.stdout.splitlines() if (REPO / line).is_file()]


def expected_package(files: list[str]) -> set[str]:
    return {f for f in files
            if (f.split("/")[0] in RUNTIME_PACKAGES and f.endswith(".py"))
            or f == "events.json"
            or (f.startswith("sites/") and not any(part.startswith(".") for part in f.split("/")))}


@pytest.fixture(scope="module")
def package(tmp_path_factory) -> tuple[set[str], set[str]]:
    """(what the build target put in ARTIFACTS_DIR, what it should have)."""
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
    shipped = {str(p.relative_to(artifacts)) for p in artifacts.rglob("*") if p.is_file()}
    return shipped, expected_package(files)


def test_the_package_holds_exactly_the_runtime_code_events_and_sites(package):
    shipped, expected = package
    assert shipped == expected, {"stray": sorted(shipped - expected), "missing": sorted(expected - shipped)}


def test_nothing_of_a_developers_checkout_ships(package):
    shipped, _ = package
    assert not set(STRAYS) & shipped
    assert not [f for f in shipped if f.startswith(("tests/", "bench/", ".")) or f.endswith((".db", ".pyc", ".yaml",
                                                                                              ".md", ".toml"))]
    assert {"bot/entrypoints/aws_lambda.py", "events.json", "sites/gipsykings/index.html"} <= shipped
