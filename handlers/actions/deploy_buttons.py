"""The production deploy confirmation's buttons, ``deploy_confirm`` and
``deploy_cancel`` (value: the deploy id). The role is checked on the click
(by the permission middleware and again by the service), whoever drew the
button: a click can be forged by anyone who can sign requests."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from blocks.deploy import CANCEL_ACTION, CONFIRM_ACTION
from bot.core.deploy import DeployError
from handlers.lazy import after_ack

if TYPE_CHECKING:
    from slack_bolt import Ack, App

    from bot.container import Services


def decide_from_button(*, body: dict[str, Any], action: dict[str, Any], respond: Callable[..., Any],
                       services: Services) -> None:
    """After the ack: confirm (and run) or cancel the pending deploy; a refusal
    or an already-decided preview is told to the presser only."""
    deploys = services.deploys
    assert deploys is not None, "build_services sets services.deploys"
    user, deploy_id = body["user"]["id"], str(action.get("value", ""))
    decide = deploys.confirm if action.get("action_id") == CONFIRM_ACTION else deploys.cancel
    try:
        decide(deploy_id, by=user)
    except DeployError as exc:
        respond(text=exc.message, response_type="ephemeral", replace_original=False)


def register(app: App, services: Services) -> None:
    def ack_decision(ack: Ack) -> None:
        ack()

    @after_ack
    def run_decision(body: dict, action: dict, respond) -> None:
        decide_from_button(body=body, action=action, respond=respond, services=services)

    app.action(CONFIRM_ACTION)(ack=ack_decision, lazy=[run_decision])
    app.action(CANCEL_ACTION)(ack=ack_decision, lazy=[run_decision])
