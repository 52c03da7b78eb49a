"""opsbot's AWS clients: DynamoDB, Lambda, SES and Secrets Manager from botocore alone
(``aws_client``), S3 and CloudFront from a boto3 session (``aws_session``: its managed transfer).

Importing boto3 costs about 20 ms (boto3.compat pulls in s3transfer, boto3 its resources),
and a DynamoDB, Lambda, SES or Secrets Manager client needs none of it: ``boto3.Session(...)
.client(...)`` is botocore's ``create_client`` on the session it wraps, with handlers added only
for S3's transfer methods and for resources. So ``aws_client`` makes them from one botocore
session, shared by the process: the second client reuses what the first loaded (endpoints.json,
about 8 ms to parse, and the models), which on Lambda is inside the first request (a payment
rings the deliverer, whose client is made then). Credentials and configuration resolve as
boto3's do (environment, profile, role); only the user agent says Botocore rather than Boto3.

Every session made here differs from botocore's own in one thing botocore does on a new
session's first client: before loading a service's model it lists every service it knows, one
folder each (about 400 folders, twice: the model and its endpoint rules), only to check that
the service asked for is one of them. On Lambda that is about 20 ms of the first request
(`bench/coldstart_bench.py`). Here the check asks for the one service's folder; a service that
does not exist is refused as before (``UnknownServiceError``, with botocore's full list in its
message).

And its loader parses botocore's JSON into plain dicts, not ``OrderedDict``s: with an
``object_pairs_hook`` the json module builds every object in Python, three times as slow for
endpoints.json (1.2 MB, read by a session's first client) and twice as slow for a service's
model. A dict keeps its keys in the file's order as an ``OrderedDict`` does, and botocore uses
nothing else of the type on loaded data (it makes its own ``OrderedDict``s for a shape's
members); tests/integration/test_aws_session.py compares the two loaders' data, order included."""

from __future__ import annotations

import gzip
import json
import os
import threading
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, overload

import botocore.session
from botocore.exceptions import DataNotFoundError
from botocore.loaders import JSONFileLoader, Loader

if TYPE_CHECKING:
    import boto3


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


class _DictJSONFileLoader(JSONFileLoader):
    """botocore's JSON file loader (``.json``, else ``.json.gz``) building plain dicts."""

    _OPENERS = ((".json", open), (".json.gz", gzip.open))

    def load_file(self, file_path: str) -> Any:
        for extension, opener in self._OPENERS:
            full_path = file_path + extension
            if os.path.isfile(full_path):
                with opener(full_path, "rb") as stream:
                    data = json.loads(stream.read().decode("utf-8"))
                if data is not None:
                    return data
        return None


class _ServiceLoader(Loader):
    FILE_LOADER_CLASS = _DictJSONFileLoader

    def list_available_services(self, type_name: str) -> Sequence[str]:  # type: ignore[override]
        return _KnownServices(self, type_name)


def botocore_session() -> botocore.session.Session:
    """A new botocore session, as ``botocore.session.get_session()``, whose loader does not list
    every service to load one."""
    core = botocore.session.get_session()
    # As botocore's own loader is made (botocore.loaders.create_loader): AWS_DATA_PATH's folders too.
    data_path = core.get_config_variable("data_path")
    extra = [os.path.expanduser(os.path.expandvars(p)) for p in data_path.split(os.pathsep)] if data_path else []
    core.register_component("data_loader", _ServiceLoader(extra_search_paths=extra))
    return core


class SharedSession:
    """One botocore session for many clients. Making a client is not thread-safe on a botocore
    session (its loader's caches, its credential resolution): that is done under a lock. The
    clients themselves are thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._session: botocore.session.Session | None = None

    def client(self, service: str, **kwargs: Any) -> Any:
        """``create_client(service, **kwargs)``: region_name, endpoint_url, config as botocore takes them."""
        with self._lock:
            if self._session is None:
                self._session = botocore_session()
            return self._session.create_client(service, **kwargs)


_shared = SharedSession()


def aws_client(service: str, **kwargs: Any) -> Any:
    """A client of ``service`` (dynamodb, lambda, sesv2, secretsmanager, sts) from the process's
    shared botocore session; ``kwargs`` as ``boto3.client`` takes them (region_name, endpoint_url, config)."""
    return _shared.client(service, **kwargs)


def aws_session() -> boto3.session.Session:
    """A new boto3 session (not shared: S3's managed transfer registers handlers on it), as boto3's
    own, whose loader does not list every service to load one. For S3 and CloudFront alone."""
    import boto3.session  # deferred for cold start: boto3 only once a deploy needs S3's managed transfer

    return boto3.session.Session(botocore_session=botocore_session())
