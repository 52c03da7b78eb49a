"""The App Home: the ops dashboard. Pure: HomeData in, a ``home`` view out.

Slack refuses a Home view of more than 100 blocks; the sections that can grow
(events, sites) get what room is left and end with a line saying what is not shown.
Every text is held to Slack's limits with blocks/fit.py, names shortened where shown."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlparse

from slack_sdk.models.blocks import Block, ButtonElement, DividerBlock, HeaderBlock
from slack_sdk.models.views import View

from blocks.audit import who
from blocks.fit import SECTION_TEXT, VIEW_BLOCKS, context, joined, name, plural, section
from blocks.glance import money_lines, season_lines
from blocks.ids import HOME_DEPLOY_ACTION
from blocks.links import home_links, linked
from blocks.mrkdwn import escape
from blocks.summary import REMINDER_ACTION
from bot.core.domain import EventStatus, Payment
from bot.core.home import PARKED_SHOWN, SITES_SHOWN, HomeData, SiteCard
from bot.core.links import staging_url
from bot.core.money import format_cents
from bot.core.outbox import describe

HOME_TARGETS = ("staging", "production")
MAX_BLOCKS = VIEW_BLOCKS
MAX_EVENTS = 40  # a dashboard, not a report: /events lists the rest
MAX_SITES = SITES_SHOWN  # the sites whose last deploys gather_home read
TODAY_LINES = 12
MAX_LINK_GROUPS = 12  # the rest: /links
LINKS_PER_GROUP = 8  # a group's first links; /links GROUP lists them all


def _when(moment: datetime, tz: Any) -> str:
    return f"{moment.astimezone(tz):%a %b %-d, %-I:%M %p}"


def _event_block(status: EventStatus, can_log: bool) -> Block:
    when = f"{status.event.date:%a %b %-d, %Y}" if status.event.date else "no date"
    text = f"*{name(status.event.title)}* · {when}\n{money_lines(status)}"
    button = None
    if can_log and status.owed_cents > 0:
        button = ButtonElement(text="Log payment", action_id=REMINDER_ACTION, value=status.event.id)
    return section(text, accessory=button)


def _events(data: HomeData, room: int) -> list[Block]:
    blocks: list[Block] = [HeaderBlock(text="Upcoming events")]
    if not data.events:
        return blocks + [section("No upcoming events. `/events all` shows past ones.")]
    fits = max(min(MAX_EVENTS, room - 2), 1)  # the header and the closing line
    shown, hidden = data.events[:fits], data.events[fits:]
    blocks += [_event_block(s, data.can_log) for s in shown]
    owed = sum(s.owed_cents for s in data.events)
    if hidden:
        hidden_owed = sum(s.owed_cents for s in hidden)
        note = (f"…and {plural(len(hidden), 'more event')} with {format_cents(hidden_owed)} due "
                f"({format_cents(owed)} in all). `/events` lists them.")
    else:
        note = f"{plural(len(shown), 'event')} · {format_cents(owed)} due in all."
    return blocks + [context(note)]


def _payment_line(p: Payment, data: HomeData) -> str:
    at = f"{p.recorded_at.astimezone(data.now.tzinfo):%-I:%M %p}"
    title = name(data.titles.get(p.event_id, p.event_id))
    if p.is_reversal:
        what = {"refund": "Stripe refund of", "refund_failed": "failed refund back to"}.get(p.kind, "void of")
        return (f"• {at} · {what} `{p.voids}` · {format_cents(p.amount_cents)} · {name(p.patron)} · {title} "
                f"· by {who(p)}")
    struck = " · _voided_" if p.voided_by else (" · _refunded_" if p.refunded_cents else "")
    return (f"• {at} · {format_cents(p.amount_cents)} {name(p.method)} · {name(p.patron)} · {title} · by {who(p)}"
            f"{struck}")


def _today(data: HomeData) -> list[Block]:
    blocks: list[Block] = [HeaderBlock(text=f"Today · {data.day:%a %b %-d}")]
    if not data.today:
        return blocks + [section("No payments logged today yet.")]
    payments = [p for p in data.today if not p.is_reversal]
    voids = [p for p in data.today if p.is_reversal]  # voids and Stripe refunds
    head = f"*{plural(len(payments), 'payment')} · {format_cents(sum(p.amount_cents for p in payments))}*"
    if voids:
        word = ("void", "voids") if all(v.is_void for v in voids) else ("void or refund", "voids or refunds")
        head += f" · {plural(len(voids), *word)} · {format_cents(sum(v.amount_cents for v in voids))}"
    newest = list(reversed(data.today))
    body = joined([_payment_line(p, data) for p in newest[:TODAY_LINES]], SECTION_TEXT - len(head) - 1,
                  more=lambda hidden: f"…and {plural(hidden, 'earlier record')}: `/opsbot summary` has them all.",
                  left_out=max(len(newest) - TODAY_LINES, 0))
    return blocks + [section(f"{head}\n{body}")]


def _last_deploy_line(card: SiteCard, data: HomeData) -> str:
    last = card.last_deploy
    if last is None:
        return "No deploy from opsbot yet."
    mark = {"deployed": ":white_check_mark: ", "up to date": ":white_check_mark: ", "failed": ":x: "}.get(
        last.result, "")
    return (f"Last deploy: {name(last.target)} · {mark}{name(last.result)} · by <@{escape(last.by)}> · "
            f"{_when(last.at, data.now.tzinfo)}")


def _link(url: str) -> str:
    try:
        parsed = urlparse(url)
        label = (parsed.netloc + parsed.path.rstrip("/")) or url
    except ValueError:  # events.json's URL is shown as written when it does not parse ("https://[...")
        label = url
    return linked(url, name(label))


def _site_blocks(card: SiteCard, data: HomeData) -> list[Block]:
    site = card.site
    if not data.is_admin:
        return [section(f"*{escape(site.id)}* · {_link(site.url)}\n{_last_deploy_line(card, data)}")]
    # Slack wants action ids unique within a block: one deploy button per block, beside the URL it publishes to.
    return [
        section(f"*{escape(site.id)}* · {_last_deploy_line(card, data)}"),
        *(section(
            f"{target.capitalize()}: {_link(url)}",
            accessory=ButtonElement(text=f"Deploy to {target}", action_id=HOME_DEPLOY_ACTION,
                                    value=f"{site.id} {target}"),
        ) for target, url in (("staging", staging_url(site)), ("production", site.url))),
    ]


def _sites(data: HomeData, room: int) -> list[Block]:
    blocks: list[Block] = [HeaderBlock(text="Sites")]
    if not data.sites:
        return blocks + [section("No sites in events.json.")]
    per_site = 1 + len(HOME_TARGETS) if data.is_admin else 1
    fits = max(min(MAX_SITES, (room - 2) // per_site), 1)
    for card in data.sites[:fits]:
        blocks += _site_blocks(card, data)
    hidden = data.sites[fits:]
    if hidden:
        blocks.append(context(f"…and {plural(len(hidden), 'more site')}: `/deploy` lists them."))
    return blocks


def _parked(data: HomeData) -> list[Block]:
    """Admins: announcements the outbox gave up on, so nobody has to notice a missing line."""
    if not data.parked:
        return []
    shown = data.parked[:PARKED_SHOWN]
    head = (f":warning: *{plural(len(shown), 'announcement')} could not be delivered* (after a day of tries, or "
            "because it may have gone out already). Fix the cause, then run `opsbot worker --retry-parked`.")
    lines = [f"• {name(describe(e), 200)}: {name(e.last_error or 'no error kept', 300)}" for e in shown]
    more = ["…and more: `opsbot doctor` lists them."] if len(data.parked) > PARKED_SHOWN else []
    return [section(joined([head, *lines, *more])), DividerBlock()]


def home_blocks(data: HomeData) -> list[Block]:
    role = "admin" if data.is_admin else "crew"
    head: list[Block] = [
        HeaderBlock(text="Ops dashboard"),
        context(f"{data.now:%a %b %-d, %-I:%M %p} · you are {role} · `/opsbot help` lists what you can do"),
        *_parked(data),
    ]
    if data.season is not None:
        head.append(section(season_lines(data.season)))
    today = _today(data)
    # Which opsbot answers: what an admin asks first when something looks off.
    footer: list[Block] = [context(f"opsbot {name(data.version)}")] if data.version else []
    dividers = 3
    room = MAX_BLOCKS - len(head) - len(today) - len(footer) - dividers
    links = home_links(data.links, min(2 + MAX_LINK_GROUPS, room // 4), lines=LINKS_PER_GROUP)
    room -= len(links)
    sites_room = min(room // 2, 2 + MAX_SITES * (1 + len(HOME_TARGETS)))
    sites = _sites(data, sites_room)
    events = _events(data, room - len(sites))
    return [*head, *events, DividerBlock(), *today, DividerBlock(), *sites, DividerBlock(), *links, *footer]


def home_view(data: HomeData) -> dict[str, Any]:
    return View(type="home", blocks=home_blocks(data)).to_dict()


def parse_deploy_value(value: str) -> tuple[str, str] | None:
    """(site id, target) from a Home deploy button's value, or None for a value we did not draw."""
    words = value.split()
    if len(words) != 2 or words[1] not in HOME_TARGETS:
        return None
    return words[0], words[1]
