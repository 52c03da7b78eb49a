"""The tests' own layout: every test module is in one of the three folders (README: Testing)."""

from __future__ import annotations

from tests.conftest import REPO

FOLDERS = ("unit", "integration", "e2e")


def test_every_test_module_is_in_unit_integration_or_e2e():
    tests = REPO / "tests"
    outside = sorted(str(p.relative_to(tests)) for p in tests.rglob("test_*.py")
                     if p.relative_to(tests).parts[0] not in FOLDERS)
    assert outside == [], f"put each in tests/unit, tests/integration or tests/e2e (README: Testing): {outside}"
    assert all(any((tests / folder).glob("test_*.py")) for folder in FOLDERS)
