"""A real opsbot server for the outbox crash test, in its own process: what
``opsbot serve`` runs (build_services, the Bolt app with every listener, the
WSGI app on waitress, the outbox's deliverer threads with the production
policy), on a free port, with one change: a two-second lease, so the claims of
a server that was killed are taken over within seconds rather than thirty.

    python -m tests.outbox_server PORT_FILE

Settings come from the environment (OPSBOT_STORE, SLACK_..., ...). The port is
written to PORT_FILE (whole, by a rename) once the server listens."""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from bot.bootstrap import build_deliverer, build_services, build_slack_app
from bot.config import load_settings
from bot.core.deliverer import DeliveryPolicy
from bot.entrypoints.http import create_server, make_wsgi_app

LEASE = timedelta(seconds=2)


def main(argv: list[str]) -> int:
    port_file = Path(argv[0])
    # What the deliverer did (claims taken over, messages found in the history) is in the log, for a failure.
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    services = build_services(load_settings(env_file=None))
    services.store.init_schema()
    deliverer = build_deliverer(services, policy=replace(DeliveryPolicy(), lease=LEASE))
    server = create_server(make_wsgi_app(services, build_slack_app(services)), "127.0.0.1", 0)
    deliverer.start()
    partial = port_file.with_suffix(".partial")
    partial.write_text(str(server.effective_port))
    os.replace(partial, port_file)
    server.run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
