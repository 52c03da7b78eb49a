"""infra/aws_session.py: boto3 sessions whose loader asks for one service's folder instead of
listing every service (cold start), and otherwise behave as boto3's own."""

from __future__ import annotations

import boto3
import botocore.loaders
import pytest
from botocore.exceptions import UnknownServiceError

from infra.aws_session import aws_session


@pytest.fixture(autouse=True)
def _fake_credentials(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")


def test_a_client_is_made_without_listing_every_service(monkeypatch):
    listed = []
    every = botocore.loaders.Loader.list_available_services

    def counting(self, type_name):
        listed.append(type_name)
        return every(self, type_name)

    monkeypatch.setattr(botocore.loaders.Loader, "list_available_services", counting)
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
    for service in ("dynamodb", "s3", "cloudfront", "sesv2", "lambda", "secretsmanager", "sts"):
        assert session.client(service, region_name="us-west-2").meta.service_model.service_name == service
    assert aws_session()._session is not session._session
    assert sorted(session.get_available_services()) == sorted(boto3.session.Session().get_available_services())
