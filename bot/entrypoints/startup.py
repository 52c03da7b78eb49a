"""Starting without the garbage collector.

What a start builds (the modules, the services, the Slack app, botocore's service model)
lives as long as the process: the collector finds nothing of it to free, yet walks all
of it again and again while it grows. Measured (CPU time, this repository's benches):
about 60 ms of Lambda's first request, 10-30 ms of ``opsbot serve``'s start. It is
turned off while starting and back on (as it was) once the process is ready; nothing
is lost: what a start left for it is collected at its next pass."""

from __future__ import annotations

import gc
from collections.abc import Callable


def pause_collection() -> Callable[[], None]:
    """Turn the garbage collector off; return the function that turns it back on as it was
    (calling it again does nothing)."""
    was_enabled = gc.isenabled()
    gc.disable()
    resumed = False

    def resume() -> None:
        nonlocal resumed
        if not resumed:
            resumed = True
            if was_enabled:
                gc.enable()

    return resume
