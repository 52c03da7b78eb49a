"""DynamoDB round trips per Slack interaction: how many requests the bot makes to DynamoDB
for each thing the crew does, counted by a botocore ``before-call`` hook on the store's client.

    .venv/bin/python bench/round_trips_bench.py

The bot runs as ``opsbot serve`` runs it (build_services + build_slack_app behind the WSGI
app, on a DynamoDB store on moto's server), driven by signed Slack requests, with the
tests' Slack stand-in (tests/fakes/slack_api.py). Each interaction is counted in two parts:

- **ack**: from the request until Slack has its answer and every lazy listener has run
  (the void button and the App Home do their work after Bolt's ack);
- **after**: what Lambda runs after that interaction: each ring of the doorbell (a write that
  announced something) is an asynchronous invocation carrying the entries it announced; the
  bench sends them through the same payload (``deliver_payload``, JSON there and back) to the
  function Lambda's ``deliver`` job calls (``run_delivery``: ``Deliverer.deliver``, those
  entries alone). An interaction that rings nothing costs nothing after.

Measured on moto; the counts are the same on AWS (the code asks the same questions).
tests/test_round_trips.py asserts the same goals, so the counts cannot creep back.
"""

from __future__ import annotations

import json
import sys
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import MotoProcess, Row, aws_environment, print_table  # noqa: E402
from bot.core.outbox import Doorbell, OutboxEntry  # noqa: E402

COMMAND = ".venv/bin/python bench/round_trips_bench.py"
EVENT = "2026-12-05-holiday-lights-charter"  # events.json: $2,400 total
MANY_EVENTS, MANY_SITES, LINKS_PER_EVENT = 150, 20, 11  # a link more than a group's summary keeps
MANY = f"App Home ({MANY_EVENTS} events, {MANY_SITES} sites, deploys and links)"

# (ack, after) goals from issue 19; None: only what is in the name is counted.
GOALS: dict[str, tuple[int, int | None]] = {
    "one-liner /log-payment": (2, 2),
    "payment modal submission": (2, 3),
    "void (button)": (3, 3),
    "replayed duplicate one-liner": (1, 0),
    "/events": (1, None),
    "/events EVENT (short history)": (3, None),
    "/events EVENT (long history)": (3, None),
    "App Home": (4, None),
    "App Home (long history)": (4, None),
    MANY: (4, None),
}


class RequestCounter:
    """Counts the requests a boto3 client makes (its ``before-call`` event: once per API
    call, before any retry of it)."""

    def __init__(self, client: Any) -> None:
        self._lock = threading.Lock()
        self.calls: list[str] = []
        client.meta.events.register("before-call.dynamodb", self._seen)

    def _seen(self, model: Any, **_: Any) -> None:
        with self._lock:
            self.calls.append(model.name)

    def take(self) -> list[str]:
        with self._lock:
            taken, self.calls = self.calls, []
        return taken


class RecordingDoorbell(Doorbell):
    """Keeps what each ring carried: on Lambda, each is an invocation delivering those entries."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self.rung: list[list[OutboxEntry]] = []

    def ring(self, entries: Sequence[OutboxEntry] = ()) -> None:
        with self._lock:
            self.rung.append(list(entries))
        super().ring(entries)

    def take(self) -> list[list[OutboxEntry]]:
        with self._lock:
            taken, self.rung = self.rung, []
        return taken


def deliver_as_lambda(bot: Any) -> None:
    """What Lambda runs for the rings since the last call: each one's invocation, its payload as sent."""
    from bot.entrypoints.aws_lambda import deliver_payload, run_delivery

    for entries in bot.doorbell.take():
        run_delivery(bot.deliverer, json.loads(deliver_payload(entries)), 10.0)


@dataclass(frozen=True)
class Count:
    name: str
    ack: list[str]
    after: list[str]

    def met(self) -> bool:
        ack_goal, after_goal = GOALS[self.name]
        return len(self.ack) <= ack_goal and (after_goal is None or len(self.after) <= after_goal)


@contextmanager
def running_bot(endpoint: str | None, **env_overrides: str) -> Iterator[Any]:
    """The bot on a fresh DynamoDB table at ``endpoint`` (moto; None: the store ``env_overrides``
    names), its deliverer not started (delivered on demand, so what it costs can be counted), the
    tests' Slack stand-in."""
    from bot.bootstrap import build_deliverer, build_services, build_slack_app
    from bot.config import load_settings
    from bot.entrypoints.http import make_wsgi_app, start_background_server
    from infra.local_slack.web_api import SlackApiStandIn
    from tests.conftest import ADMIN_USER, AUDIT_CHANNEL, BOT_TOKEN, EVENTS_FILE, SIGNING_SECRET
    from tests.slack_bot import TEST_POLICY, Bot, LazyTracker

    with SlackApiStandIn() as slack_api:
        env = {
            "OPSBOT_EVENTS_FILE": str(EVENTS_FILE), "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET, "OPSBOT_SLACK_API_URL": slack_api.base_url,
            "OPSBOT_AUDIT_CHANNEL": AUDIT_CHANNEL, "OPSBOT_ADMINS": ADMIN_USER,
            **({"OPSBOT_STORE": f"dynamodb://opsbot-{uuid.uuid4().hex[:10]}", "AWS_ENDPOINT_URL": endpoint,
                "AWS_REGION": "us-west-2"} if endpoint else {}),
            **env_overrides,
        }
        doorbell = RecordingDoorbell()
        services = build_services(load_settings(environ=env, env_file=None), doorbell=doorbell)
        services.store.init_schema()
        deliverer = build_deliverer(services, policy=TEST_POLICY)
        lazies = LazyTracker(None)
        slack_app = build_slack_app(services, listener_executor=lazies)
        server, base_url = start_background_server(make_wsgi_app(services, slack_app))
        try:
            bot = Bot(base_url, services, slack_api, lazies)
            bot.deliverer = deliverer
            bot.doorbell = doorbell
            yield bot
        finally:
            lazies.wait_idle()
            server.close()
            lazies.shutdown()


def measure(endpoint: str, *, history: int = 300) -> list[Count]:
    """Count each interaction once; ``history``: payments seeded on the event (straight into the
    store) before the long-history rows."""
    from tests.conftest import ADMIN_USER, AUDIT_CHANNEL

    counts: list[Count] = []
    with running_bot(endpoint) as bot:
        counter = RequestCounter(bot.services.store._client)

        def count(name: str, act: Callable[[], Any]) -> Any:
            counter.take()
            answer = act()
            bot.lazies.wait_idle()
            ack = counter.take()
            deliver_as_lambda(bot)
            counts.append(Count(name, ack, counter.take()))
            return answer

        trigger = f"13345224609.738474920.{uuid.uuid4().hex[:12]}"
        reply = count("one-liner /log-payment",
                      lambda: bot.command("/log-payment", f"{EVENT} 100 cash Ana Ruiz", trigger=trigger))
        assert "Ana Ruiz" in reply.json()["text"], reply.body
        count("replayed duplicate one-liner",
              lambda: bot.command("/log-payment", f"{EVENT} 100 cash Ana Ruiz", trigger=trigger))
        view = bot.open_modal(EVENT)
        bot.lazies.wait_idle()
        deliver_as_lambda(bot)  # nothing: opening a form announces nothing
        count("payment modal submission",
              lambda: bot.submit(view, event=EVENT, patron="Bo Lee", amount="50", method="card"))
        payment = next(p for p in bot.services.ledger.event_payments(EVENT) if p.patron == "Ana Ruiz")
        line = next(c for c in bot.audit_posts() if payment.payment_id in str(c.params))
        count("void (button)", lambda: bot.click_void(payment.payment_id, user=ADMIN_USER,
                                                     message_ts=line.response["ts"], channel=AUDIT_CHANNEL))
        # What was counted after the acks delivered everything: three lines, the receipt, the strike-through.
        assert len(bot.audit_posts()) == 3 and len(bot.slack_api.calls("chat.postEphemeral")) == 1, "not delivered"
        assert [c.params["ts"] for c in bot.slack_api.calls("chat.update")] == [line.response["ts"]], "not struck"
        counter.take()
        count("/events", lambda: bot.command("/events"))
        count("/events EVENT (short history)", lambda: bot.command("/events", EVENT))
        count("App Home", lambda: bot.open_home(ADMIN_USER))
        seed_payments(bot.services, EVENT, history)
        count("/events EVENT (long history)", lambda: bot.command("/events", EVENT))
        count("App Home (long history)", lambda: bot.open_home(ADMIN_USER))
    with tempfile.TemporaryDirectory() as folder, \
            running_bot(endpoint, OPSBOT_EVENTS_FILE=str(many_events_file(Path(folder)))) as bot:
        seed_deploys_and_links(bot.services)
        counter = RequestCounter(bot.services.store._client)  # count() counts this bot's requests from here
        view = json.dumps(count(MANY, lambda: bot.open_home(ADMIN_USER)), ensure_ascii=False)
        assert "Last deploy: staging" in view and "paid 1×" in view, "the summaries were not shown"
    return counts


def many_events_file(folder: Path) -> Path:
    """events.json with MANY_EVENTS events (past, this week's and later ones) and MANY_SITES sites."""
    from tests.conftest import EVENTS_FILE

    data = json.loads(EVENTS_FILE.read_text(encoding="utf-8"))
    today = date.today()
    data["events"] = [{"id": f"e{i:03d}", "title": f"Event {i}", "date": (today + timedelta(days=i - 40)).isoformat(),
                       "total": 1000} for i in range(MANY_EVENTS)]
    data["sites"] = [{**data["sites"][0], "id": f"site{i:02d}", "bucket": f"site{i:02d}-example-com",
                      "url": f"https://site{i:02d}.example.com"} for i in range(MANY_SITES)]
    path = folder / "events.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def seed_deploys_and_links(services: Any) -> None:
    """Two deploys of every site, and LINKS_PER_EVENT payment links (the newest paid) on every fifth of the
    nearest events and on no event, written as the Deployer and Paylinks write them: each with the summary
    it keeps (the Home reads the nearest events' summaries whether or not they have links)."""
    from bot.core.deploy import DEPLOYS, newest_deploy
    from bot.core.links import PAYLINK_EVENTS
    from bot.core.paylinks import Paylink
    from bot.core.ports import Fold

    store, now = services.store, datetime.now(UTC)
    for site in services.catalog.sites:
        for n in range(2):
            key, record = f"{(now + timedelta(seconds=n)).isoformat()}#dep_{site.id}_{n}", {
                "deploy_id": f"dep_{site.id}_{n}", "site": site.id, "target": "staging", "by": "U0SEED",
                "at": now.isoformat(), "result": "deployed"}
            store.put_record(DEPLOYS, site.id, key, record, fold=Fold(
                services.deploys.last_deploy_key(site.id), lambda last, key=key, record=record:
                newest_deploy(last, key, record)))
    nearest = services.catalog.ordered(services.ledger.today())[:PAYLINK_EVENTS:5]
    for event in [*nearest, None]:
        for n in range(LINKS_PER_EVENT):
            link = Paylink(link_id=f"plink_{event.id if event else '-'}_{n}", url=f"https://buy.stripe.com/test_{n}",
                           product_id="prod_1", price_id="price_1", amount_cents=1000 + n, product_name=f"Link {n}",
                           description="", event_id=event.id if event else None,
                           event_title=event.title if event else None, created_by="U0SEED",
                           created_at=(now + timedelta(seconds=n)).isoformat(), day=now.date().isoformat())
            store.put_record("paylink-id", link.link_id, "link", asdict(link), if_absent=True)
            store.put_record("paylink", link.group, link.key, asdict(link), if_absent=True,
                             fold=services.paylinks.recent_fold(link, paid=(0, 0)))
        services.paylinks.mark_paid(link.link_id, session_id=f"cs_{link.group}", amount_cents=link.amount_cents,
                                    paid_at=now)


def seed_payments(services: Any, event_id: str, how_many: int) -> None:
    """``how_many`` one-cent payments on the event, through the ledger (no announcements)."""
    from bot.core.ledger import Ledger

    quiet = Ledger(services.store, services.catalog, services.ledger.tz)
    for i in range(how_many):
        quiet.record_payment(event_id=event_id, patron=f"Seed Patron {i % 50}", amount="0.01", method="cash",
                             notes="", logged_by="U0SEED", idempotency_key=f"seed:{uuid.uuid4().hex}")


def rows(counts: list[Count]) -> list[Row]:
    made = []
    for c in counts:
        ack_goal, after_goal = GOALS[c.name]
        goal = f"≤ {ack_goal}" + (f" + {after_goal}" if after_goal is not None else "")
        figure = f"{len(c.ack)} + {len(c.after)}"
        made.append(Row(f"DynamoDB requests, ack + after: {c.name}", figure, "", None, goal, c.met(), COMMAND))
    return made


def report(counts: list[Count]) -> None:
    for c in counts:
        print(f"{c.name}: ack {len(c.ack)} {c.ack}; after {len(c.after)} {c.after}")


def run(history: int = 300) -> list[Count]:
    """Count every interaction on a moto server of its own."""
    with aws_environment(), MotoProcess() as moto:
        return measure(moto.endpoint, history=history)


def main() -> int:
    counts = run()
    report(counts)
    print_table(rows(counts), "DynamoDB round trips (moto)")
    return 0 if all(c.met() for c in counts) else 1


if __name__ == "__main__":
    raise SystemExit(main())
