"""Store fixtures: the same contract runs on SQLite and on DynamoDB (moto server)."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator

import pytest
from werkzeug.serving import make_server

from infra.dynamo_store import DynamoStore
from infra.memory_store import MemoryStore
from infra.sqlite_store import SqliteStore
from tests.fakes.aws_faults import AwsFaults
from tests.fakes.moto_speed import copy_only_touched_items

STORE_KINDS = ["sqlite", "dynamodb"]
# A service test runs on the in-memory store as well: its rules checked without I/O, then on each real store.
SERVICE_STORE_KINDS = ["memory", *STORE_KINDS]


class _OneRequestAtATime:
    """moto's backends are not thread-safe: a cancelled TransactWriteItems restores
    a snapshot of the whole table, wiping writes that other threads made
    meanwhile. Real DynamoDB applies each request atomically; serialising
    requests here gives the same per-request atomicity while the clients still
    race each other with real HTTP calls."""

    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        with self.lock:
            return list(self.app(environ, start_response))


@pytest.fixture(scope="session")
def aws_fault_layer() -> AwsFaults:
    """The fault layer in front of the session's moto server (inert unless armed)."""
    return AwsFaults()


@pytest.fixture
def aws_faults(aws_fault_layer: AwsFaults, moto_endpoint: str) -> Iterator[AwsFaults]:
    """Arm faults for this test only: whatever is left is dropped afterwards."""
    aws_fault_layer.disarm()
    yield aws_fault_layer
    aws_fault_layer.disarm()


@pytest.fixture(scope="session")
def moto_endpoint(aws_fault_layer: AwsFaults) -> Iterator[str]:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-west-2",
    }.items():
        os.environ.setdefault(name, value)
    copy_only_touched_items()  # the same answers, without copying the table for each item of a transaction
    app = aws_fault_layer.wrap(_OneRequestAtATime(DomainDispatcherApplication(create_backend_app)))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


def make_dynamo_store(endpoint: str) -> DynamoStore:
    return DynamoStore(f"opsbot-{uuid.uuid4().hex[:12]}", region="us-west-2", endpoint_url=endpoint)


def fresh_store(kind: str, request, tmp_path):
    """A fresh, initialised store of ``kind`` (memory, sqlite or dynamodb)."""
    if kind == "memory":
        made = MemoryStore()
    elif kind == "sqlite":
        made = SqliteStore(tmp_path / "ledger.db")
    else:
        made = make_dynamo_store(request.getfixturevalue("moto_endpoint"))
    made.init_schema()
    return made


@pytest.fixture(params=SERVICE_STORE_KINDS)
def store(request, tmp_path):
    """A fresh, initialised store of each kind: in memory, on disk, on a server (the services' tests)."""
    return fresh_store(request.param, request, tmp_path)
