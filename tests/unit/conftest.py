"""Unit tests: no server, no store file, no process. The bot's settings point Slack at a closed
port (nothing here may call it), the services are built on the in-memory store, and a test that
opens a connection or starts a process fails, naming it."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.bootstrap import build_services
from bot.config import Settings
from bot.container import Services
from infra.memory_store import MemoryStore
from tests.conftest import bot_env

# Port 9 (discard) on loopback: a call that slipped through would fail fast, never reach anything.
CLOSED_SLACK = "http://127.0.0.1:9/api/"


@pytest.fixture
def opsbot_env(tmp_path: Path) -> dict[str, str]:
    """The test bot's environment without the Slack stand-in (unit tests never call Slack); its
    SQLite store is named, never opened (see ``services``)."""
    return bot_env(tmp_path, CLOSED_SLACK)


@pytest.fixture
def services(settings: Settings) -> Services:
    """The services on a fresh in-memory store."""
    built = build_services(settings, store=MemoryStore())
    built.store.init_schema()
    return built


@pytest.fixture(autouse=True)
def no_connections_or_processes(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    def refuse(what: str):
        def refused(*args: object, **kwargs: object) -> None:
            raise AssertionError(f"a unit test may not {what}: move it to tests/integration or tests/e2e")
        return refused

    monkeypatch.setattr(socket.socket, "connect", refuse("open a connection"))
    monkeypatch.setattr(socket.socket, "connect_ex", refuse("open a connection"))
    monkeypatch.setattr(socket.socket, "bind", refuse("listen on a port"))
    monkeypatch.setattr(subprocess.Popen, "__init__", refuse("start a process"))
    yield
