"""``/opsbot assign SESSION_ID EVENT_ID`` (admins): record a paid Stripe session
that came in without a known event on the event it belongs to."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from blocks.failures import problem
from blocks.fit import RECORD_NAME, name
from blocks.receipts import payment_receipt
from bot.core.ledger import LedgerError
from bot.core.money import format_cents
from bot.core.stripe_intake import AssignError

if TYPE_CHECKING:
    from bot.container import Services

ASSIGN_USAGE = ("Usage: `/opsbot assign SESSION_ID EVENT_ID` — the session id (`cs_...`) is on the "
                "\"not tied to an event\" audit line.")
MAX_LISTED = 10


def _ephemeral(text: str) -> dict[str, Any]:
    return {"response_type": "ephemeral", "text": text}


def _waiting(services: Services) -> str:
    assert services.stripe_intake is not None
    waiting = services.stripe_intake.unassigned()
    kept = services.stripe_intake.refunds.kept()
    lines = [f"Waiting for an event ({len(waiting)}):"] if waiting else ["No Stripe payment is waiting for an event."]
    lines += [f"• `{name(str(r['session_id']), 300)}` · {format_cents(int(r['amount_cents']))} from "
              f"{name(str(r['patron']))}"
              for r in waiting[:MAX_LISTED]]
    if kept:  # never recorded on an event by opsbot: an admin decides (log a payment's correction by hand)
        lines.append(f"Stripe refunds kept aside, with no payment here to take them from ({len(kept)}):")
        lines += [f"• `{name(str(r['refund_id']), 300)}` · {format_cents(int(r['amount_cents']))}"
                  for r in kept[-MAX_LISTED:]]
    return "\n".join(lines)


def assign_reply(words: list[str], user: str, *, services: Services) -> dict[str, Any]:
    """The ack payload for ``/opsbot assign <words>``."""
    intake = services.stripe_intake
    assert intake is not None, "build_services sets services.stripe_intake"
    if len(words) != 2:
        return _ephemeral(f"{ASSIGN_USAGE}\n{_waiting(services)}")
    session_id, event_ref = words
    try:
        outcome = intake.assign(session_id, event_ref, by=user)
    except AssignError as exc:
        return _ephemeral(f"{problem(str(exc))}\n{_waiting(services)}")
    except LedgerError as exc:  # an unknown event
        return _ephemeral(problem(" ".join(exc.errors.values())))
    payment, event = outcome.result.payment, outcome.result.status.event
    if outcome.already:
        return _ephemeral(f"`{name(session_id, 300)}` is already recorded on {name(event.title, RECORD_NAME)} "
                          f"(`{payment.payment_id}`); nothing changed.")
    return _ephemeral(f"Stripe payment `{name(session_id, 300)}` assigned. {payment_receipt(outcome.result)}")
