"""The help reply: the Block Kit builder (snapshot) and the /opsbot callback as a plain function."""

from __future__ import annotations

import re

from blocks.help import help_blocks, help_text
from bot.core.access import PERMISSIONS, Role, entry_action
from bot.core.domain import DEFAULT_PAYMENT_METHODS
from bot.core.help import COMMANDS, CommandHelp
from handlers.commands.opsbot import opsbot_command, opsbot_reply
from tests.conftest import ADMIN_USER

CREW_USER = "U0CREW00001"

ENTRIES = (
    CommandHelp("/events [SLUG|all]", "Events with paid and balance.", "/events all"),
    CommandHelp("/opsbot void PAYMENT_ID", "Voids a payment.", "/opsbot void pay_k7m2x9q4ab", admin_only=True),
)

FOOTER = {
    "type": "context",
    "elements": [{
        "type": "mrkdwn",
        "text": "Amounts are dollars, like 125 or 1,560.00. Payment methods: cash, card, check, venmo, zelle.",
    }],
}


def test_help_blocks_snapshot() -> None:
    assert help_blocks(ENTRIES, methods=DEFAULT_PAYMENT_METHODS) == [
        {"type": "header", "text": {"type": "plain_text", "text": "opsbot commands", "emoji": True}},
        {"type": "section", "text": {
            "type": "mrkdwn",
            "text": "*`/events [SLUG|all]`*\nEvents with paid and balance.\nExample: `/events all`",
        }},
        {"type": "section", "text": {
            "type": "mrkdwn",
            "text": "*`/opsbot void PAYMENT_ID`* _(admins)_\nVoids a payment.\nExample: `/opsbot void pay_k7m2x9q4ab`",
        }},
        FOOTER,
    ]


def test_unknown_subcommand_notice_comes_first_and_is_escaped() -> None:
    blocks = help_blocks(ENTRIES, methods=DEFAULT_PAYMENT_METHODS, unknown_subcommand="<!channel>&")
    assert blocks[1] == {"type": "section", "text": {
        "type": "mrkdwn", "text": "Unknown subcommand `&lt;!channel&gt;&amp;`: here is the help.",
    }}
    assert help_text(ENTRIES, methods=DEFAULT_PAYMENT_METHODS, unknown_subcommand="<!channel>").startswith(
        "Unknown subcommand `&lt;!channel&gt;`: here is the help.\n"
    )


def test_a_long_unknown_subcommand_is_cut_in_the_echo() -> None:
    notice = help_blocks(ENTRIES, methods=DEFAULT_PAYMENT_METHODS, unknown_subcommand="x" * 500)[1]["text"]["text"]
    assert "x" * 39 + "…" in notice
    assert "x" * 41 not in notice


def test_help_lists_every_slash_command_with_an_example_for_an_admin(services) -> None:
    reply = opsbot_reply("help", services=services, user=ADMIN_USER)
    assert reply["response_type"] == "ephemeral"
    shown = "\n".join(b["text"]["text"] for b in reply["blocks"] if b["type"] == "section")
    for command in ("/log-payment", "/paylink", "/deploy", "/events", "/opsbot"):
        assert re.search(rf"\*`{command}\b", shown), command
        assert re.search(rf"Example: `{command}\b", shown), command
    assert shown.count("Example: ") == len(COMMANDS)
    for command in ("/log-payment", "/paylink", "/deploy", "/events", "/opsbot"):
        assert command in reply["text"]


def test_crew_sees_only_the_commands_crew_may_run_each_with_an_example(services) -> None:
    reply = opsbot_reply("help", services=services, user=CREW_USER)
    shown = "\n".join(b["text"]["text"] for b in reply["blocks"] if b["type"] == "section")
    assert re.findall(r"^\*`([^`]+)`\*", shown, flags=re.M) == [
        "/log-payment [EVENT AMOUNT METHOD PATRON…]", "/events [SLUG|all]", "/links [GROUP|TEXT]", "/opsbot help",
        "/opsbot summary", "/opsbot find TEXT"]
    assert re.findall(r"^Example: `([^`]+)`$", shown, flags=re.M) == [
        "/log-payment gipsykings 125 venmo Ana Ruiz", "/events all", "/links stripe", "/opsbot help",
        "/opsbot summary", "/opsbot find ana ruiz"]
    assert "(admins)" not in shown and "/paylink" not in reply["text"] and "/deploy" not in reply["text"]
    # Without a known user, the help is the crew's, never the admin's.
    assert opsbot_reply("help", services=None) == reply


def test_bare_opsbot_is_help_and_case_does_not_matter() -> None:
    assert opsbot_reply("", services=None) == opsbot_reply("help", services=None)
    assert opsbot_reply("  HELP  ", services=None) == opsbot_reply("help", services=None)


def test_an_unknown_subcommand_gets_the_help_with_a_notice() -> None:
    reply = opsbot_reply("frobnicate now", services=None)
    assert reply["response_type"] == "ephemeral"
    assert reply["blocks"][1]["text"]["text"] == "Unknown subcommand `frobnicate`: here is the help."
    assert reply["text"].startswith("Unknown subcommand `frobnicate`: here is the help.")
    assert reply["blocks"][2:] == opsbot_reply("help", services=None)["blocks"][1:]


def test_the_listener_acks_with_the_help() -> None:
    acked: list[dict] = []
    opsbot_command(ack=lambda **kw: acked.append(kw), command={"command": "/opsbot", "text": "help"}, services=None)
    assert acked == [opsbot_reply("help", services=None)]


def test_the_admin_marks_come_from_the_permission_table():
    marked = [h.usage for h in COMMANDS if h.admin_only]
    admin_commands = ("/paylink ", "/deploy ", "/opsbot void ", "/opsbot assign ", "/opsbot export ")
    assert len(marked) == len(admin_commands) and all(u.startswith(admin_commands) for u in marked)
    for h in COMMANDS:
        name, _, rest = h.usage.partition(" ")
        assert h.admin_only == (PERMISSIONS[entry_action("command", name, rest)] is Role.ADMIN)
