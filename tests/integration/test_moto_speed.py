"""The tests' moto answers a cancelled transaction as moto does (tests/fakes/moto_speed.py):
nothing it touched changed, whatever it put, updated or deleted first."""

from __future__ import annotations

import uuid

import boto3
import pytest
from botocore.exceptions import ClientError


def test_a_cancelled_transaction_leaves_every_item_as_it_was(moto_endpoint):
    client = boto3.client("dynamodb", region_name="us-west-2", endpoint_url=moto_endpoint)
    table = f"speed-{uuid.uuid4().hex[:8]}"
    client.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                        AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"},
                                              {"AttributeName": "SK", "AttributeType": "S"}],
                        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"},
                                   {"AttributeName": "SK", "KeyType": "RANGE"}])
    key = {"PK": {"S": "A"}, "SK": {"S": "1"}}
    client.put_item(TableName=table, Item={**key, "n": {"N": "1"}})
    client.put_item(TableName=table, Item={"PK": {"S": "C"}, "SK": {"S": "1"}, "n": {"N": "5"}})
    client.put_item(TableName=table, Item={"PK": {"S": "D"}, "SK": {"S": "1"}, "n": {"N": "7"}})
    with pytest.raises(ClientError) as cancelled:
        client.transact_write_items(TransactItems=[
            {"Update": {"TableName": table, "Key": key, "UpdateExpression": "SET n = :two",
                        "ExpressionAttributeValues": {":two": {"N": "2"}}}},
            {"Put": {"TableName": table, "Item": {"PK": {"S": "B"}, "SK": {"S": "1"}}}},
            {"Delete": {"TableName": table, "Key": {"PK": {"S": "C"}, "SK": {"S": "1"}}}},
            {"Put": {"TableName": table, "Item": {"PK": {"S": "D"}, "SK": {"S": "1"}, "n": {"N": "3"}},
                     "ConditionExpression": "attribute_not_exists(PK)"}},
        ])
    assert cancelled.value.response["Error"]["Code"] == "TransactionCanceledException"
    items = client.scan(TableName=table)["Items"]
    assert sorted((i["PK"]["S"], i["n"]["N"]) for i in items) == [("A", "1"), ("C", "5"), ("D", "7")]
    assert [r["Code"] for r in cancelled.value.response["CancellationReasons"]] == [
        "None", "None", "None", "ConditionalCheckFailed"]
