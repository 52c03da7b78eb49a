"""What ``GET /healthz`` reports: each part a running opsbot needs, and whether it is up.

The store is always a part. Entry points add the parts they start: ``opsbot run`` in
Socket Mode its Slack connection, ``run`` and ``serve`` their scheduler (on Lambda,
EventBridge schedules the jobs and Slack calls in over HTTP: the store is all there is).
A required part that is down makes the answer 503, which is what an admin alerts on."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from bot.core.ports import Store, StoreError

log = logging.getLogger("opsbot.health")


@dataclass(frozen=True)
class Part:
    ok: bool
    detail: str  # read after the part's name: "store unavailable", "slack connected (Socket Mode)"
    required: bool = True


Probe = Callable[[], Part]


@dataclass
class Health:
    """The parts being watched besides the store, by name, in the order they were added."""

    probes: dict[str, Probe] = field(default_factory=dict)

    def watch(self, name: str, probe: Probe) -> None:
        self.probes[name] = probe

    def report(self, store: Store) -> tuple[int, dict[str, Any]]:
        """The HTTP status and the JSON body of /healthz."""
        parts = {"store": store_part(store), **{name: probe() for name, probe in self.probes.items()}}
        down = [f"{name} {part.detail}" for name, part in parts.items() if part.required and not part.ok]
        body: dict[str, Any] = {"status": "error" if down else "ok"}
        if down:
            body["error"] = "; ".join(down)
        body["parts"] = {name: {"ok": part.ok, "detail": part.detail, **({} if part.required else {"required": False})}
                         for name, part in parts.items()}
        return (503 if down else 200), body


def store_part(store: Store) -> Part:
    try:
        store.ping()
    except StoreError as exc:
        log.warning("healthz: store unavailable: %s", exc)  # the reason goes to the log, not to the world
        return Part(False, "unavailable")
    return Part(True, "answers")


class SocketModeClient(Protocol):
    def is_connected(self) -> bool: ...


def socket_mode_part(client: SocketModeClient) -> Probe:
    """The Slack connection of ``opsbot run`` in Socket Mode (slack_sdk's client reconnects by
    itself; until it has, Slack's requests cannot reach the bot)."""

    def probe() -> Part:
        if client.is_connected():
            return Part(True, "connected (Socket Mode)")
        return Part(False, "not connected (Socket Mode): reconnecting")

    return probe


class Scheduler(Protocol):
    @property
    def running(self) -> bool: ...

    def get_jobs(self) -> list[Any]: ...


def scheduler_part(scheduler: Scheduler) -> Probe:
    """The daily summary and reminders: a stopped scheduler sends neither."""

    def probe() -> Part:
        if not scheduler.running:
            return Part(False, "not running: no daily summary or reminders")
        jobs = scheduler.get_jobs()
        return Part(True, f"running ({len(jobs)} job{'s' if len(jobs) != 1 else ''})")

    return probe
