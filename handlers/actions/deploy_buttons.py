"""The production deploy confirmation's buttons, ``deploy_confirm`` and
``deploy_cancel`` (value: the deploy id). The role is checked on the click
(by the permission middleware and again by the service), whoever drew the
button: a click can be forged by anyone who can sign requests."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from blocks.deploy import CONFIRM_ACTION, refusal_text
from bot.core.deploy import DeployError

if TYPE_CHECKING:
    from bot.container import Services


def decide_from_button(*, body: dict[str, Any], action: dict[str, Any], respond: Callable[..., Any],
                       services: Services) -> None:
    """After the ack: confirm (and run) or cancel the pending deploy; a refusal
    or an already-decided preview is told to the presser only."""
    deploys = services.deploys
    user, deploy_id = body["user"]["id"], str(action.get("value", ""))
    decide = deploys.confirm if action.get("action_id") == CONFIRM_ACTION else deploys.cancel
    try:
        decide(deploy_id, by=user)
    except DeployError as exc:
        respond(text=refusal_text(exc), response_type="ephemeral", replace_original=False)
