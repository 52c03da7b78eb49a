"""The stable ids (DESIGN.md) the Slack listeners register under: the action ids of buttons and
selects, and the payment modal's callback id. Each is used by the blocks that carry it, and kept here,
apart from them, so that registering the listeners loads none of the blocks (cold start)."""

from __future__ import annotations

VOID_ACTION = "payment_void"
VOID_REFUND_ACTION = "payment_void_refund"  # the question's "void and refund in Stripe" button
VOID_ONLY_ACTION = "payment_void_only"  # the question's "void here only" button
REMINDER_ACTION = "reminder_log_payment"
CONFIRM_ACTION = "deploy_confirm"
CANCEL_ACTION = "deploy_cancel"
HOME_DEPLOY_ACTION = "home_deploy"  # value: "SITE TARGET"
CALLBACK_ID = "log_payment"
EVENT_ACTION = "event"  # the event select's action_id, which its block_suggestion requests name
