"""Lazy listeners run after the ack, in another thread (or Lambda invocation).

Bolt catches their exceptions and logs one line without the traceback; this
wrapper logs the traceback first so a failure after the ack is never silent."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger("opsbot.lazy")


def after_ack(func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)  # keeps the signature Bolt reads to inject arguments
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except Exception:
            log.exception("%s failed after the ack", func.__name__)
            raise

    return run
