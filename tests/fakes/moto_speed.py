"""moto's DynamoDB, made to cost what it means to.

moto's TransactWriteItems takes its rollback snapshot by deep-copying the whole
table once for every item of the transaction: a payment's transaction of seven
items copies the table seven times, so every write grows slower as the table
fills (measured: 50 payments with their announcements took 11 s, then 21 s,
then 26 s as the table grew). Here the snapshot is of what the transaction can
change, its own items, taken at the same moment (before any item is applied)
and put back the same way on a cancellation, so what moto answers does not
change; only its cost does. Requests reach moto one at a time (tests/stores.py),
so the swap of its ``copy`` module for the length of a transaction is seen by
nothing else."""

from __future__ import annotations

import copy
from typing import Any


class _KeepTables:
    """Stands in for moto's ``copy`` module inside one transaction: a table is not copied
    (its touched items are, by the wrapper below)."""

    def __init__(self, table_type: type) -> None:
        self.table_type = table_type

    def deepcopy(self, thing: Any, memo: Any = None) -> Any:
        return thing if isinstance(thing, self.table_type) else copy.deepcopy(thing, memo)

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)


def copy_only_touched_items() -> None:
    """Patch moto's DynamoDB backend in this process (idempotent)."""
    from moto.dynamodb import models
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    backend = models.DynamoDBBackend
    if getattr(backend.transact_write_items, "copies_only_touched_items", False):
        return
    original = backend.transact_write_items

    def snapshot(self: Any, transact_items: list[dict[str, Any]]) -> list[tuple[Any, Any, Any, Any]]:
        taken = []
        for entry in transact_items:
            _, op = next(iter(entry.items()))
            table = self.tables.get(op.get("TableName"))
            key = op.get("Item") if "Item" in op else op.get("Key")
            if table is None or not isinstance(key, dict) or table.hash_key_attr not in key:
                continue  # moto refuses it itself, before changing anything
            hash_value = DynamoType(key[table.hash_key_attr])
            range_value = DynamoType(key[table.range_key_attr]) if table.range_key_attr in key else None
            if table.has_range_key and range_value is None:
                continue
            current = table.get_item(hash_value, range_value)
            taken.append((table, hash_value, range_value, copy.deepcopy(current)))
        return taken

    def restore(taken: list[tuple[Any, Any, Any, Any]]) -> None:
        for table, hash_value, range_value, before in reversed(taken):
            if range_value is None:
                if before is None:
                    table.items.pop(hash_value, None)
                else:
                    table.items[hash_value] = before
            elif before is None:
                table.items.get(hash_value, {}).pop(range_value, None)
            else:
                table.items[hash_value][range_value] = before

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        taken = snapshot(self, transact_items)
        models.copy = _KeepTables(Table)  # type: ignore[assignment]
        try:
            return original(self, transact_items)
        except BaseException:
            restore(taken)
            raise
        finally:
            models.copy = copy  # type: ignore[assignment]

    transact_write_items.copies_only_touched_items = True  # type: ignore[attr-defined]
    backend.transact_write_items = transact_write_items
