"""The ops page's links in Slack: ``/links`` replies and the App Home's Links section.
Pure builders, held to Slack's limits with blocks/fit.py however many links there are:
a group's lines are cut with "…and N more" and a hint to ask ``/links GROUP``."""

from __future__ import annotations

import re
from collections.abc import Sequence
from urllib.parse import quote

from slack_sdk.models.blocks import Block, HeaderBlock

from blocks.fit import (
    HEADER_TEXT,
    MESSAGE_BLOCKS,
    SECTION_TEXT,
    clip,
    context,
    fallback,
    joined,
    name,
    plain,
    plural,
    section,
)
from blocks.mrkdwn import escape
from bot.core.links import LinksFound, OpsGroup, OpsLink
from bot.core.money import format_cents
from bot.core.user_text import echo

LINKS_USAGE = "Usage: `/links` (every link), `/links GROUP` (one group) or `/links TEXT` (links whose title, " \
              "note or address holds it)."
NOTE_SHOWN = 200
URL_LINKED = 1500  # a longer address (once escaped) would crowd a section out: its title is shown unlinked
_GROUP_IN_HINT = 60
_UNSAFE_IN_LINK = re.compile(r"[|\s]")
# Slack also refuses a message whose blocks hold too much text in all, a limit it does not document
# ("about 12,000 characters", slackapi/bolt-js#2509): a reply keeps well below it.
REPLY_TEXT = 10_000
OLDER_NOTE = "Payment links of the nearest events, newest first: `/events EVENT` lists all of an event's."


def linked(url: str, label: str) -> str:
    """``<url|label>`` for mrkdwn (``label`` already escaped): the address escaped, and the
    characters that would end or break it (``|``, spaces, line breaks) percent-encoded."""
    return f"<{_UNSAFE_IN_LINK.sub(lambda m: quote(m.group()), escape(url))}|{label}>"


def link_line(link: OpsLink) -> str:
    """``• <url|title> · note``; a payment link says its amount, event, what it collected, who made it and when."""
    pay = link.payment
    label = f"{format_cents(pay.amount_cents)} · {name(pay.name, 60)}" if pay else name(link.title)
    line = f"• {linked(link.url, label)}" if len(escape(link.url)) <= URL_LINKED else \
        f"• {label} (its address is too long to link here: see events.json)"
    if pay is not None:
        where = f" · {name(pay.event_title)}" if pay.event_title else ""
        paid = f"paid {pay.paid_count}× ({format_cents(pay.paid_cents)})" if pay.paid_count else "not paid yet"
        return f"{line}{where} · {paid} · by <@{escape(pay.created_by)}> · {pay.day:%b %-d}"
    return f"{line} · {name(link.note, NOTE_SHOWN)}" if link.note else line


def _ask_for(group: OpsGroup) -> str:
    return f"`/links {name(group.name, _GROUP_IN_HINT)}`"


def group_text(group: OpsGroup, *, lines: int | None = None) -> str:
    """One group as one section's text: its name, then its links (the first ``lines``,
    as many as fit), the rest counted with the command that lists them."""
    head = f"*{name(group.name)}*"
    if not group.links:
        return f"{head}\nNo links in this group yet."
    shown = list(group.links[:lines] if lines is not None else group.links)
    body = joined([link_line(link) for link in shown], SECTION_TEXT - len(head) - 1,
                  more=lambda hidden: f"…and {hidden} more: {_ask_for(group)}",
                  left_out=len(group.links) - len(shown))
    return f"{head}\n{body}"


def home_links(groups: Sequence[OpsGroup], room: int, *, lines: int) -> list[Block]:
    """The App Home's Links section in at most ``room`` blocks (a header, a section a group
    with its first ``lines`` links, and a closing line naming what is not shown)."""
    blocks: list[Block] = [HeaderBlock(text="Links")]
    if not groups:
        return blocks + [section("No links yet: add a `links` section to events.json.")]
    fits = max(min(len(groups), room - 2), 1)
    blocks += [section(group_text(group, lines=lines)) for group in groups[:fits]]
    hidden = groups[fits:]
    older = any(g.older_payment_links for g in groups[:fits])
    notes = [OLDER_NOTE] if older else []
    if hidden:
        count = sum(len(g.links) for g in hidden)
        notes.append(f"…and {plural(len(hidden), 'more group')} ({plural(count, 'link')}): `/links` lists them.")
    else:
        notes.append("`/links TEXT` finds a link.")
    return blocks + [context(" ".join(notes))]


def _packed(groups: Sequence[OpsGroup], sections: int, budget: int) -> tuple[list[str], int, list[str]]:
    """The groups' lines (a bold name, then its links) packed into at most ``sections``
    texts of at most SECTION_TEXT and ``budget`` characters in all. Returns (texts, links
    shown, names of the groups with links not shown)."""
    texts: list[str] = []
    current: list[str] = []
    size = total = shown = 0
    cut: list[str] = []
    for group in groups:
        if cut:
            cut.append(group.name)
            continue
        for i, line in enumerate([f"*{name(group.name)}*", *(link_line(link) for link in group.links)]):
            line = clip(line)
            if total + len(line) + 1 > budget or (
                    current and size + 1 + len(line) > SECTION_TEXT and len(texts) + 1 >= sections):
                cut.append(group.name)
                if i == 1:  # no link of this group fits: drop its name too
                    current.pop()
                break
            if current and size + 1 + len(line) > SECTION_TEXT:
                texts.append("\n".join(current))
                current, size = [], 0
            size += len(line) + (1 if current else 0)
            total += len(line) + 1
            current.append(line)
            shown += i > 0
    if current:
        texts.append("\n".join(current))
    return texts, shown, cut


def links_reply(found: LinksFound) -> tuple[str, list[dict]]:
    """The answer to ``/links [GROUP|TEXT]``: the matching links, grouped, in one message."""
    asked = f" matching “{name(echo(found.query))}”" if found.query else ""
    if not found.groups:
        if not found.all_groups:
            text = "No links yet: add a `links` section to events.json (the README shows how)."
        else:
            groups = ", ".join(name(g, 40) for g in found.all_groups[:20])
            more = f" and {len(found.all_groups) - 20} more" if len(found.all_groups) > 20 else ""
            text = f"No links{asked}. Groups: {groups}{more}. {LINKS_USAGE}"
        return text, [section(text).to_dict()]  # already mrkdwn, and short
    title = f"Links matching {echo(found.query)}" if found.query else "Links"
    texts, shown, cut = _packed(found.groups, MESSAGE_BLOCKS - 2, REPLY_TEXT)  # the header and the closing line
    blocks: list[Block] = [HeaderBlock(text=plain(title, HEADER_TEXT)), *(section(text) for text in texts)]
    notes = [f"{plural(found.count, 'link')}{asked}"]
    if any(g.older_payment_links for g in found.groups):
        notes.append(OLDER_NOTE)
    if cut:
        names = ", ".join(name(g, 40) for g in cut[:5]) + (f" and {len(cut) - 5} more" if len(cut) > 5 else "")
        notes.append(f"…and {plural(found.count - shown, 'more link')} ({names}): `/links GROUP` shows one group.")
    blocks.append(context(" · ".join(notes)))
    matching = f" matching “{echo(found.query)}”" if found.query else ""
    text = fallback(f"Links{matching}: " + "; ".join(f"{g.name} ({len(g.links)})" for g in found.groups))
    return text, [b.to_dict() for b in blocks]
