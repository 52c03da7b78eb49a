"""The bot's log lines, the same on a server and on AWS Lambda, at the level
OPSBOT_LOG_LEVEL sets (INFO by default).

- A server (``opsbot serve``, ``run``): one text line per record on stderr.
- Lambda: the runtime has put its own handler on the root logger (JSON when the
  function's LoggingConfig says ``LogFormat: JSON``, as infra/template.yaml does)
  and left the root level at WARNING unless told otherwise, which dropped every
  INFO line. The level is set here; the runtime's handler writes the lines, and a
  record's ``extra`` fields become keys of its JSON object. Outside the runtime
  (no handler on the root logger) a handler writing the same JSON is installed.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import TextIO

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# LogRecord's own attributes: anything else on a record came from ``extra`` and is logged as a field.
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def configure_server_logging(level: str) -> None:
    logging.basicConfig(level=level, format=TEXT_FORMAT)
    logging.getLogger().setLevel(level)


def configure_lambda_logging(level: str, stream: TextIO | None = None) -> None:
    root = logging.getLogger()
    root.setLevel(level)
    if not root.handlers:
        handler = logging.StreamHandler(stream or sys.stdout)
        handler.setFormatter(JsonLines())
        root.addHandler(handler)


class JsonLines(logging.Formatter):
    """One JSON object per record, keyed as Lambda's own JSON log format is."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update((k, v) for k, v in vars(record).items() if k not in _RECORD_ATTRIBUTES and k not in line)
        if record.exc_info:
            line["errorType"] = record.exc_info[0].__name__ if record.exc_info[0] else None
            line["stackTrace"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)
