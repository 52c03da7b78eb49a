"""Starting without the garbage collector, and leaving what the start built out of its passes.

What a start builds (the modules, the services, the Slack app, botocore's service model)
lives as long as the process: the collector finds nothing of it to free, yet walks all
of it again and again while it grows. Measured (CPU time, this repository's benches):
about 60 ms of Lambda's first request, 10-30 ms of ``opsbot serve``'s start. It is
turned off while starting and back on (as it was) once the process is ready.

Turned back on, it would still walk all of it once more: everything made while it was off
counts as new, so the first allocations after the start set off a collection of the
youngest generation over the whole start (about 20 ms), and soon after a full one (about
30 ms); on Lambda both fell inside the first request. So a start that succeeded freezes
what it built first (``gc.freeze``: moved out of every generation, never walked again), once
per process: a Lambda container or a server starts once. The price is that cyclic garbage
the imports left behind stays: about a thousand objects (tests/integration/
test_start_up_costs.py bounds it); garbage made after the start is collected as before."""

from __future__ import annotations

import gc
import threading
from typing import Protocol


class ResumeCollection(Protocol):
    def __call__(self, *, started: bool = False) -> None: ...


_frozen_once = threading.Event()


def pause_collection() -> ResumeCollection:
    """Turn the garbage collector off; return the function that turns it back on as it was
    (calling it again does nothing). ``started=True`` says the start succeeded: what exists
    then is frozen out of later collections, if this process has not frozen a start already."""
    was_enabled = gc.isenabled()
    gc.disable()
    resumed = False

    def resume(*, started: bool = False) -> None:
        nonlocal resumed
        if resumed:
            return
        resumed = True
        if started and not _frozen_once.is_set():
            _frozen_once.set()
            gc.freeze()
        if was_enabled:
            gc.enable()

    return resume
