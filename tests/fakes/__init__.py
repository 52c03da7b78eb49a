"""Local stand-ins for outside services, reached over real HTTP on 127.0.0.1 (Slack's Web API
stand-in is in the package, infra/local_slack/, for the console's use at run time)."""

from __future__ import annotations

from infra.local_slack.loopback import LoopbackServer

__all__ = ["LoopbackServer"]
