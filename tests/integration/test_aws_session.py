"""infra/aws_session.py: sessions whose loader asks for one service's folder instead of listing
every service (cold start), and otherwise behave as boto3's own; botocore clients from one
shared session, made one at a time."""

from __future__ import annotations

import json
import os
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor

import boto3
import botocore.loaders
import pytest
from botocore.exceptions import UnknownServiceError

from infra.aws_session import SharedSession, aws_client, aws_session, botocore_session


@pytest.fixture(autouse=True)
def _fake_credentials(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")


def calls_to(monkeypatch, method: str) -> list[str]:
    """The names botocore's Loader.<method> is asked for from now on (the method still answers)."""
    asked: list[str] = []
    original = getattr(botocore.loaders.Loader, method)

    def recording(self, name):
        asked.append(name)
        return original(self, name)

    monkeypatch.setattr(botocore.loaders.Loader, method, recording)
    return asked


def test_a_client_is_made_without_listing_every_service(monkeypatch):
    listed = calls_to(monkeypatch, "list_available_services")
    client = aws_session().client("dynamodb", region_name="us-west-2")
    assert client.meta.service_model.service_name == "dynamodb"
    assert "TransactWriteItems" in client.meta.service_model.operation_names
    assert listed == []
    # boto3's own session lists them all (what the cold start no longer pays).
    boto3.session.Session().client("dynamodb", region_name="us-west-2")
    assert "service-2" in listed


def test_a_service_that_does_not_exist_is_refused_with_the_full_list():
    with pytest.raises(UnknownServiceError) as refused:
        aws_session().client("dynamodbx", region_name="us-west-2")
    assert "dynamodb" in str(refused.value) and "sesv2" in str(refused.value)


@pytest.mark.parametrize("name", ["", "../dynamodb", "dynamodb/2012-08-10"])
def test_names_that_are_not_a_service_folder_are_not_services(name):
    with pytest.raises(UnknownServiceError):
        aws_session().client(name, region_name="us-west-2")


def test_every_service_opsbot_uses_is_found_and_sessions_are_not_shared():
    session = aws_session()
    for service in OPSBOT_SERVICES:
        assert session.client(service, region_name="us-west-2").meta.service_model.service_name == service
    assert aws_session()._session is not session._session
    assert sorted(session.get_available_services()) == sorted(boto3.session.Session().get_available_services())


OPSBOT_SERVICES = ("dynamodb", "s3", "cloudfront", "sesv2", "lambda", "secretsmanager", "sts")


def test_the_loader_reads_botocore_s_data_as_botocore_does_into_plain_dicts():
    ours, botocore_s = botocore_session().get_component("data_loader"), botocore.loaders.create_loader()
    loaded = [(ours.load_data(name), botocore_s.load_data(name))
              for name in ("endpoints", "partitions", "_retry", "sdk-default-configuration")]
    for service in OPSBOT_SERVICES:
        for type_name in ("service-2", "endpoint-rule-set-1", "paginators-1"):
            loaded.append((ours.load_service_model(service, type_name),
                           botocore_s.load_service_model(service, type_name)))
    for mine, theirs in loaded:
        assert type(theirs) is OrderedDict and type(mine) is dict
        # Same data with every object's keys in the same order (json.dumps follows each one's order).
        assert json.dumps(mine) == json.dumps(theirs)
        assert list(mine) == list(theirs)


def test_a_client_on_plain_dicts_builds_the_same_requests_as_boto3_s(monkeypatch):
    for name in [name for name in os.environ if name.startswith("AWS_ENDPOINT_URL")]:
        monkeypatch.delenv(name)  # AWS's own endpoint here, whatever the environment names
    ours = aws_session().client("dynamodb", region_name="us-west-2")
    theirs = boto3.session.Session().client("dynamodb", region_name="us-west-2")
    item = {"pk": {"S": "PAY#1"}, "sk": {"S": "v"}, "amount": {"N": "15050"}, "tags": {"SS": ["a", "b"]}}
    for client in (ours, theirs):
        assert client.meta.endpoint_url == "https://dynamodb.us-west-2.amazonaws.com"
    members = [list(c.meta.service_model.operation_model("PutItem").input_shape.members) for c in (ours, theirs)]
    assert members[0] == members[1] and members[0][:2] == ["TableName", "Item"]
    sent = []
    for client in (ours, theirs):
        client.meta.events.register("before-send.dynamodb.PutItem",
                                    lambda request, **_: sent.append(request.body) or _stop())
        with pytest.raises(_Stopped):
            client.put_item(TableName="opsbot", Item=item, ConditionExpression="attribute_not_exists(pk)")
    assert sent[0] == sent[1] and json.loads(sent[0])["Item"] == item


class _Stopped(Exception):
    """Raised from before-send so that nothing leaves the process."""


def _stop():
    raise _Stopped


def test_clients_from_one_shared_session_load_the_endpoints_once(monkeypatch):
    loaded = calls_to(monkeypatch, "load_data_with_path")
    shared = SharedSession()
    first = shared.client("dynamodb", region_name="us-west-2")
    assert loaded.count("endpoints") == 1
    second = shared.client("lambda", region_name="us-west-2")
    again = shared.client("dynamodb", region_name="eu-west-1", endpoint_url="http://127.0.0.1:9")
    assert loaded.count("endpoints") == 1  # endpoints.json: 1.25 MB, parsed once
    assert (first.meta.region_name, second.meta.service_model.service_name) == ("us-west-2", "lambda")
    assert (again.meta.region_name, again.meta.endpoint_url) == ("eu-west-1", "http://127.0.0.1:9")
    # A new session (as boto3's, or aws_session for S3) loads them again.
    aws_session().client("dynamodb", region_name="us-west-2")
    assert loaded.count("endpoints") == 2


def test_clients_are_made_one_at_a_time_from_many_threads(monkeypatch):
    shared = SharedSession()
    making, most = [0], [0]
    create = botocore.session.Session.create_client

    def watched(self, *args, **kwargs):
        making[0] += 1
        most[0] = max(most[0], making[0])
        try:
            return create(self, *args, **kwargs)
        finally:
            making[0] -= 1

    monkeypatch.setattr(botocore.session.Session, "create_client", watched)
    services = ["dynamodb", "lambda", "sesv2", "secretsmanager"] * 4
    with ThreadPoolExecutor(8) as pool:
        clients = list(pool.map(lambda name: shared.client(name, region_name="us-west-2"), services))
    assert [c.meta.service_model.service_name for c in clients] == services
    assert most[0] == 1


def test_aws_client_is_the_process_s_one_session():
    assert aws_client("dynamodb", region_name="us-west-2").meta.service_model.service_name == "dynamodb"
    first, second = aws_client("lambda", region_name="us-west-2"), aws_client("lambda", region_name="us-west-2")
    assert first is not second
    assert first._endpoint is not second._endpoint  # clients of their own, from one session
    assert first.meta.events is not second.meta.events
