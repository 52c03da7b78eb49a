"""Adapters to the outside world. ``open_store`` picks the store from settings."""

from __future__ import annotations

from bot.config import Settings
from bot.core.ports import Store


def open_store(settings: Settings) -> Store:
    if settings.store.kind == "dynamodb":
        from infra.dynamo_store import DynamoStore

        return DynamoStore(
            settings.store.location,
            region=settings.aws_region,
            endpoint_url=settings.aws_endpoint_url,
        )
    from infra.sqlite_store import SqliteStore

    return SqliteStore(settings.store.location)
