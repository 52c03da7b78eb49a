"""``/opsbot find TEXT`` (crew): payments whose patron or notes match, across events.

The search reads every event's records, so it runs after the ack; the answer comes
back by response_url, seen only by the person who asked."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from blocks.failures import problem, store_unavailable
from blocks.find import find_reply, find_usage
from bot.core.ledger import LedgerError
from bot.core.patrons import patron_key
from bot.core.ports import StoreError

if TYPE_CHECKING:
    from bot.container import Services

log = logging.getLogger("opsbot.find")


def find_ack(words: list[str]) -> dict[str, Any]:
    """The ack payload for ``/opsbot find <words>``: the usage when there is nothing to look for,
    else nothing (the answer follows)."""
    if not patron_key(" ".join(words)):
        return {"response_type": "ephemeral", "text": find_usage()}
    return {}


def run_find(words: list[str], *, respond: Callable[..., Any], services: Services) -> None:
    """After the ack: search, and answer the person who asked."""
    if not patron_key(" ".join(words)):
        return  # the ack gave the usage
    try:
        found = services.records.find(" ".join(words))
    except LedgerError as exc:
        respond(text=problem(" ".join(exc.errors.values())), response_type="ephemeral", replace_original=False)
        return
    except StoreError as exc:
        log.error("/opsbot find failed: the store did not answer: %s", exc)
        respond(text=store_unavailable("/opsbot find"), response_type="ephemeral", replace_original=False)
        return
    text, blocks = find_reply(found)
    respond(text=text, blocks=blocks, response_type="ephemeral", replace_original=False)
