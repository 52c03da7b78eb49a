"""boto3 sessions for opsbot's AWS clients (DynamoDB, S3, CloudFront, SES, Lambda, Secrets Manager).

The same as ``boto3.session.Session()``, credentials and configuration included, but for one
thing botocore does on every new session's first client: before loading a service's model
it lists every service it knows, one folder each (about 400 folders, twice: the model and
its endpoint rules), only to check that the service asked for is one of them. On Lambda that
is about 20 ms of the first request (`bench/coldstart_bench.py`). Here the check asks for the
one service's folder; a service that does not exist is refused as before
(``UnknownServiceError``, with botocore's full list in its message)."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import overload

import boto3
import botocore.session
from botocore.exceptions import DataNotFoundError
from botocore.loaders import Loader


class _KnownServices(Sequence[str]):
    """What ``Loader.list_available_services`` answers, asked one service at a time: ``in``
    looks in that service's folder alone; the whole list is made only when it is read."""

    def __init__(self, loader: Loader, type_name: str):
        self._loader, self._type_name = loader, type_name
        self._all: list[str] | None = None

    def __contains__(self, service_name: object) -> bool:
        if not isinstance(service_name, str) or not service_name or os.sep in service_name:
            return False
        try:
            return bool(self._loader.list_api_versions(service_name, self._type_name))
        except DataNotFoundError:
            return False

    def _every(self) -> list[str]:
        if self._all is None:
            self._all = Loader.list_available_services(self._loader, self._type_name)
        return self._all

    def __iter__(self) -> Iterator[str]:
        return iter(self._every())

    def __len__(self) -> int:
        return len(self._every())

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[str]: ...

    def __getitem__(self, index: int | slice) -> str | Sequence[str]:
        return self._every()[index]


class _ServiceLoader(Loader):
    def list_available_services(self, type_name: str) -> Sequence[str]:  # type: ignore[override]
        return _KnownServices(self, type_name)


def aws_session() -> boto3.session.Session:
    """A new boto3 session (not shared: botocore sessions are not thread-safe), as boto3's own,
    whose loader does not list every service to load one."""
    core = botocore.session.get_session()
    # As botocore's own loader is made (botocore.loaders.create_loader): AWS_DATA_PATH's folders too.
    data_path = core.get_config_variable("data_path")
    extra = [os.path.expanduser(os.path.expandvars(p)) for p in data_path.split(os.pathsep)] if data_path else []
    core.register_component("data_loader", _ServiceLoader(extra_search_paths=extra))
    return boto3.session.Session(botocore_session=core)
