"""Block Kit for the help reply. Pure: entries in, block dicts out."""

from __future__ import annotations

from collections.abc import Sequence

from slack_sdk.models.blocks import HeaderBlock

from blocks.fit import MESSAGE_BLOCKS, context, cut, name, plural, section
from bot.core.help import CommandHelp

TITLE = "opsbot commands"
_ECHO_LIMIT = 40  # how much of an unknown subcommand to echo back


def unknown_notice(subcommand: str) -> str:
    return f"Unknown subcommand `{name(subcommand, _ECHO_LIMIT)}`: here is the help."


def footer(methods: Sequence[str]) -> str:
    """The closing line: how amounts are written and the crew's payment methods (events.json's list)."""
    return f"Amounts are dollars, like 125 or 1,560.00. Payment methods: {', '.join(methods)}."


def _entry_mrkdwn(entry: CommandHelp) -> str:
    who = " _(admins)_" if entry.admin_only else ""
    return f"*`{entry.usage}`*{who}\n{entry.summary}\nExample: `{entry.example}`"


def help_blocks(entries: Sequence[CommandHelp], *, methods: Sequence[str],
                unknown_subcommand: str | None = None) -> list[dict]:
    blocks = [HeaderBlock(text=TITLE)]
    if unknown_subcommand is not None:
        blocks.append(section(unknown_notice(unknown_subcommand)))
    shown, hidden = cut(entries, MESSAGE_BLOCKS - len(blocks) - 2)  # one section a command, then the footer
    blocks.extend(section(_entry_mrkdwn(e)) for e in shown)
    if hidden:
        blocks.append(context(f"…and {plural(hidden, 'more command')}: " +
                              ", ".join(f"`{e.usage.split()[0]}`" for e in entries[len(shown):])))
    blocks.append(context(footer(methods)))
    return [b.to_dict() for b in blocks]


def help_text(entries: Sequence[CommandHelp], *, methods: Sequence[str], unknown_subcommand: str | None = None
              ) -> str:
    """The plain fallback shown in notifications and by clients without blocks."""
    lines = [unknown_notice(unknown_subcommand)] if unknown_subcommand is not None else []
    lines.append(f"{TITLE}:")
    lines.extend(
        f"• {e.usage}{' (admins)' if e.admin_only else ''}: {e.summary} Example: {e.example}" for e in entries
    )
    lines.append(footer(methods))
    return "\n".join(lines)
