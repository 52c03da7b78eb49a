"""Group commit for the SQLite store's hottest write (a payment): writers that arrive while
another is writing queue up, and the next one in writes the whole queue in ONE transaction,
each write in its own savepoint, then wakes the others with their own outcome.

Why: with 32 writer threads one transaction per payment spends most of its time handing the
file's write lock (and Python's GIL) from thread to thread; the commit itself is cheap. Each
write still sees exactly what it would alone (the writes of the group run one after another,
in arrival order, inside one IMMEDIATE transaction), a write that fails (over the total, a
reused key) is rolled back to its savepoint without touching the others, and nobody is
answered before the transaction holding their write has committed: what was acknowledged
is on disk, as before. A failed commit fails every write of the group (none was answered)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

MAX_GROUP = 64  # writes per transaction: bounds how long the last of a group waits for its answer

Work = Callable[[sqlite3.Connection], Any]


class _WriteFailed(Exception):
    """A write of a group raised: the group's transaction is rolled back and written again."""


@dataclass(eq=False)
class _Write:
    work: Work
    done: threading.Event = field(default_factory=threading.Event)
    finished: bool = False  # False when woken: it leads the next group
    result: Any = None
    error: BaseException | None = None

    def outcome(self) -> Any:
        if self.error is not None:
            raise self.error
        return self.result


class GroupCommit:
    """One per database file and process, beside the file's writer lock (every other write
    takes that lock alone, so the groups and they still go one at a time)."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._queue: list[_Write] = []
        self._leading = False

    def run(self, work: Work, transaction: Callable[[], AbstractContextManager[sqlite3.Connection]],
            translate: Callable[[sqlite3.Error], Exception]) -> Any:
        """``work(conn)`` inside a transaction shared with the writes queued meanwhile; returns
        what it returned, or raises what it raised. ``transaction``: the store's IMMEDIATE
        transaction (its writer lock held); ``translate``: a SQLite error as the store says it."""
        write = _Write(work)
        with self._guard:
            self._queue.append(write)
            lead = not self._leading
            self._leading = True
        if not lead:
            write.done.wait()
            if write.finished:
                return write.outcome()
        # This thread leads: it writes what is queued when it holds the transaction (its own write
        # first among them), then hands the lead to the first write still waiting, if any.
        try:
            self._commit(write, transaction, translate)
        finally:
            with self._guard:
                if self._queue:
                    self._queue[0].done.set()  # it leads the next group (its ``finished`` is still False)
                else:
                    self._leading = False
        return write.outcome()

    def _take(self, leader: _Write) -> list[_Write]:
        """The group: what is queued now, up to MAX_GROUP, the leader's own write first."""
        with self._guard:
            group, self._queue = self._queue[:MAX_GROUP], self._queue[MAX_GROUP:]
        assert group and group[0] is leader, "the leader's write is the first queued"
        return group

    def _commit(self, leader: _Write, transaction: Callable[[], AbstractContextManager[sqlite3.Connection]],
                translate: Callable[[sqlite3.Error], Exception]) -> None:
        group: list[_Write] = []
        try:
            try:
                with transaction() as conn:
                    # Taken once the write lock is held: writes that came while it waited join this group.
                    group = self._take(leader)
                    if len(group) == 1:  # alone: what it raises rolls its transaction back
                        leader.result = leader.work(conn)
                    else:
                        # Most writes succeed: no savepoints unless one fails. Then the group is rolled
                        # back and written again, each write in a savepoint (the writes only read and
                        # write the database: written again, each does exactly what it did).
                        for write in group:
                            try:
                                write.result = write.work(conn)
                            except Exception as exc:
                                raise _WriteFailed from exc
            except _WriteFailed:
                with transaction() as conn:
                    self._each_in_a_savepoint(conn, group, translate)
        except BaseException as exc:
            # Nothing of the group was committed: each of its writes fails (none was answered yet). If
            # the transaction could not even begin, the group was not taken: the leader's write fails.
            failed = exc if isinstance(exc, Exception) else RuntimeError(f"the transaction was interrupted: {exc!r}")
            for write in group or self._take_alone(leader):
                write.result, write.error = None, failed
            if not isinstance(exc, Exception):
                raise
        finally:
            for write in group:
                write.finished = True
                if write is not leader:
                    write.done.set()
        leader.finished = True

    @staticmethod
    def _each_in_a_savepoint(conn: sqlite3.Connection, group: list[_Write],
                             translate: Callable[[sqlite3.Error], Exception]) -> None:
        for n, write in enumerate(group):
            write.result = write.error = None
            conn.execute(f"SAVEPOINT w{n}")
            try:
                write.result = write.work(conn)
            except Exception as exc:  # noqa: BLE001 - this write's own outcome, raised in its own thread
                conn.execute(f"ROLLBACK TO w{n}")
                write.error = translate(exc) if isinstance(exc, sqlite3.Error) else exc
            conn.execute(f"RELEASE w{n}")

    def _take_alone(self, leader: _Write) -> list[_Write]:
        with self._guard:
            self._queue.remove(leader)
        return [leader]
