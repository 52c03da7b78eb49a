"""The deliverer (bot/core/deliverer.py) on both stores, against the Slack stand-in over
HTTP with the real Slack client: each entry once, digests within Slack's limits,
the channel's pace, a dead holder's claim taken over without posting twice, what
cannot be checked parked rather than sent twice, and parking after a day."""

from __future__ import annotations

import itertools
import threading
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from blocks import announcements
from bot.core.deliverer import Deliverer, DeliveryPolicy
from bot.core.domain import Event, EventTotals, Payment, RecordOutcome
from bot.core.outbox import (
    AUDIT,
    DELIVERED,
    EMAIL,
    PARKED,
    PENDING,
    Announcement,
    Announcer,
    Settled,
    Targets,
    entry_id,
)
from bot.core.ports import MAIL_OFF, NoMailer
from infra.slack_notifier import SlackNotifier, slack_client
from tests.conftest import AUDIT_CHANNEL, BOT_TOKEN

GALA = Event(id="gala", title="Gala Night", date=date(2027, 3, 1), total_cents=100_000_000)
_ids = itertools.count(1)
QUICK = DeliveryPolicy(pace=0.0, fold_after=None, backoff=(0.05,), idle_poll=0.1, line_wait=0.05)


def announcer(**targets) -> Announcer:
    return Announcer(Targets(audit_channel=AUDIT_CHANNEL, **targets), day_of=lambda m: m.date().isoformat())


def a_payment(n: int, *, patron: str | None = None, at: datetime | None = None) -> Payment:
    at = at or datetime.now(UTC)
    return Payment(payment_id=f"pay_{n:010d}", event_id=GALA.id, patron=patron or f"Patron {n}",
                   amount_cents=100 + n, method="cash", notes="", logged_by="U0CREW00001", recorded_at=at,
                   day=at.date().isoformat())


def announce_payments(store, count: int, *, receipt_to=None, patron: str | None = None,
                      at: datetime | None = None) -> list[Payment]:
    """``count`` payments' announcements in the outbox (written in bulk, as many transactions do)."""
    made = []
    entries = []
    paid = 0
    for _ in range(count):
        payment = a_payment(next(_ids), patron=patron, at=at)
        paid += payment.amount_cents
        outcome = RecordOutcome(payment, EventTotals(GALA.id, paid, len(made) + 1))
        entries += announcer().payment_recorded(outcome, GALA, receipt_to=receipt_to).entries
        made.append(payment)
    store.announce(Announcement(None, tuple(entries)))
    return made


def named(call) -> str:
    return call.params["text"] + "\n" + "\n".join(b["text"]["text"] for b in call.params.get("blocks") or []
                                                  if b.get("type") in ("section", "context") and "text" in b)


@pytest.fixture
def deliverer(store, slack_api):
    made: list[Deliverer] = []

    def make(policy: DeliveryPolicy = QUICK, **kwargs) -> Deliverer:
        notifier = SlackNotifier(slack_client(BOT_TOKEN, slack_api.base_url, retries=False))
        one = Deliverer(store, announcer(), renderer=announcements, notifier=notifier, mailer=NoMailer(), email=None,
                        tz=UTC, policy=policy, **kwargs)
        made.append(one)
        return one

    yield make
    for one in made:
        one.stop()


def posts(slack_api) -> list:
    return [c for c in slack_api.calls("chat.postMessage") if c.status == 200 and c.response.get("ok")]


def test_each_line_goes_once_carrying_its_claim(store, slack_api, deliverer):
    first, second = announce_payments(store, 2)
    deliver = deliverer()
    assert deliver.drain(10) == 2
    assert deliver.drain(10) == 0
    lines = posts(slack_api)
    assert [c.params["blocks"][-1]["elements"][0]["value"] for c in lines] == [first.payment_id, second.payment_id]
    for payment, line in zip((first, second), lines, strict=True):
        entry = store.get_entry(entry_id(payment.payment_id, AUDIT))
        assert entry.state == DELIVERED and entry.result == {"channel": AUDIT_CHANNEL, "ts": line.response["ts"]}
        assert line.params["metadata"] == {"event_type": "opsbot_announcement",
                                           "event_payload": {"attempt": entry.attempt, "records": 1}}
        assert store.message_ref(payment.payment_id) == (AUDIT_CHANNEL, line.response["ts"])


def test_a_backed_up_channel_gets_one_digest_naming_every_record(store, slack_api, deliverer):
    paid = announce_payments(store, 40, patron="Ana & <Co>")
    deliver = deliverer(replace(QUICK, fold_after=3))
    assert deliver.drain(10) == 40
    [digest] = posts(slack_api)
    text = named(digest)
    assert all(text.count(p.payment_id) == 1 for p in paid)
    assert "Ana &amp; &lt;Co&gt;" in text and "<Co>" not in text
    assert text.startswith("40 changes in one message: 40 payments")
    assert ("40 changes in one message*: Slack takes about one message a second in a channel, and 40 were "
            "waiting") in text
    assert digest.params["metadata"]["event_payload"]["records"] == 40
    assert all(store.get_entry(entry_id(p.payment_id, AUDIT)).result["digest"] for p in paid)
    assert store.message_ref(paid[0].payment_id) is None  # no line of its own to strike through later


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)  # rendering; 700 entries take minutes on moto
def test_digests_stay_within_slacks_limits_and_name_each_record_once(store, slack_api, deliverer):
    paid = announce_payments(store, 1_500, patron="P" * 100)  # the longest patron name, on every line
    deliver = deliverer(replace(QUICK, fold_after=3))
    assert deliver.drain(60) == 1_500
    digests = posts(slack_api)
    assert len(digests) >= 2
    for digest in digests:
        blocks = digest.params["blocks"]
        assert len(blocks) <= 50
        assert all(len(b["text"]["text"]) <= 3000 for b in blocks if b["type"] == "section")
    everything = "\n".join(named(d) for d in digests)
    assert all(everything.count(p.payment_id) == 1 for p in paid)
    assert sum(d.params["metadata"]["event_payload"]["records"] for d in digests) == 1_500


def test_a_channel_is_paced(store, slack_api, deliverer):
    announce_payments(store, 3)
    deliver = deliverer(replace(QUICK, pace=0.3))
    assert deliver.drain(10) == 3
    times = [c.at for c in posts(slack_api)]
    assert len(times) == 3 and all(b - a >= 0.3 for a, b in itertools.pairwise(times))


def test_retry_after_pauses_the_channel(store, slack_api, deliverer):
    [payment] = announce_payments(store, 1)
    slack_api.rate_limit_next("chat.postMessage", retry_after=1)
    deliver = deliverer()
    deliver.start()
    assert deliver.wait_idle(10)
    limited, sent = slack_api.calls("chat.postMessage")
    assert (limited.status, sent.status) == (429, 200) and sent.at - limited.at >= 1.0
    assert store.get_entry(entry_id(payment.payment_id, AUDIT)).state == DELIVERED


def claim_as(store, holder: str, entry_ids: list[str], attempt: str, lease: timedelta, *,
             under_way: bool = True) -> None:
    seen = [store.get_entry(i) for i in entry_ids]
    taken = store.claim_entries(seen, holder=holder, attempt=attempt, now=datetime.now(UTC), lease=lease,
                                under_way=under_way)
    assert len(taken) == len(entry_ids)


def dead_holders_claim(store, entry_ids: list[str], attempt: str, *, under_way: bool = True) -> None:
    """A deliverer claimed these (an audit line's claim says its post is under way) and died:
    its lease has already run out."""
    claim_as(store, "dead", entry_ids, attempt, timedelta(0), under_way=under_way)


def posted_by_the_dead_holder(slack_api, attempt: str) -> str:
    """What the dead holder had posted before it died (its claim id in the metadata)."""
    return SlackNotifier(slack_client(BOT_TOKEN, slack_api.base_url)).post(
        AUDIT_CHANNEL, "the line", metadata={"event_type": "opsbot_announcement",
                                             "event_payload": {"attempt": attempt, "records": 1}})


def test_a_dead_holders_line_that_reached_slack_is_not_posted_again(store, slack_api, deliverer):
    [payment] = announce_payments(store, 1)
    audit = entry_id(payment.payment_id, AUDIT)
    dead_holders_claim(store, [audit], "dead#1:line")
    posted = posted_by_the_dead_holder(slack_api, "dead#1:line")
    assert deliverer().drain(10) == 1
    assert len(slack_api.calls("chat.postMessage")) == 1
    assert store.get_entry(audit).result == {"channel": AUDIT_CHANNEL, "ts": posted}


def test_a_dead_holders_line_that_never_reached_slack_is_posted_once(store, slack_api, deliverer):
    [payment] = announce_payments(store, 1)
    dead_holders_claim(store, [entry_id(payment.payment_id, AUDIT)], "dead#1:line")
    assert deliverer().drain(10) == 1
    [line] = posts(slack_api)
    assert line.params["blocks"][-1]["elements"][0]["value"] == payment.payment_id
    assert len(slack_api.calls("conversations.history")) == 1


def test_a_line_whose_fate_cannot_be_checked_is_not_posted_blindly(store, slack_api, deliverer):
    [payment] = announce_payments(store, 1)
    audit = entry_id(payment.payment_id, AUDIT)
    dead_holders_claim(store, [audit], "dead#1:line")
    slack_api.scopes = ("chat:write",)  # an app installed without channels:history
    # A retry far off, so a slow store cannot bring it due inside this drain and count it twice.
    assert deliverer(replace(QUICK, backoff=(120.0,))).drain(10) == 1
    assert slack_api.calls("chat.postMessage") == []
    entry = store.get_entry(audit)
    assert (entry.state, entry.in_doubt) == (PENDING, True)
    assert "could not check whether it was posted" in entry.last_error and "missing_scope" in entry.last_error


def test_the_interrupted_call_is_remembered_across_takeovers_and_failed_look_ups(store, slack_api, deliverer):
    """A posted the line and died. B took it over but could not read the history (no scope), and
    C took it over from B: C still looks for A's message, not B's, and does not post it again."""
    [payment] = announce_payments(store, 1)
    audit = entry_id(payment.payment_id, AUDIT)
    dead_holders_claim(store, [audit], "dead#1:line")
    posted = posted_by_the_dead_holder(slack_api, "dead#1:line")
    slack_api.scopes = ("chat:write",)
    deliverer(holder="b").drain(10)
    assert (store.get_entry(audit).attempt, store.get_entry(audit).in_doubt) == ("dead#1:line", True)
    # Another deliverer takes it when B's retry comes due (B has stopped).
    slack_api.scopes = ("chat:write", "channels:history")
    c = deliverer(holder="c")
    c.start()
    assert c.wait_idle(10)
    assert len(slack_api.calls("chat.postMessage")) == 1
    assert store.get_entry(audit).result == {"channel": AUDIT_CHANNEL, "ts": posted}
    looked = slack_api.calls("conversations.history")
    assert [c.status == 200 and c.response["ok"] for c in looked] == [False, True]


def test_a_receipt_that_may_have_gone_out_is_parked_not_sent_twice(store, slack_api, deliverer):
    [payment] = announce_payments(store, 1, receipt_to=("C0OPS000001", "U0CREW00001"))
    receipt = entry_id(payment.payment_id, "receipt")
    dead_holders_claim(store, [receipt], "dead#1:line", under_way=False)
    store.mark_in_doubt([receipt], holder="dead", attempt="dead#1:line")  # it had started the call
    deliverer().drain(10)
    assert slack_api.calls("chat.postEphemeral") == []
    [parked] = store.parked_entries(10)
    assert parked.entry_id == receipt and "may have been sent" in parked.last_error
    assert len(posts(slack_api)) == 1  # the audit line, which could be checked, went out


def test_a_receipt_never_started_by_a_dead_holder_is_sent(store, slack_api, deliverer):
    [payment] = announce_payments(store, 1, receipt_to=("C0OPS000001", "U0CREW00001"))
    dead_holders_claim(store, [entry_id(payment.payment_id, "receipt")], "dead#1:line", under_way=False)
    deliverer().drain(10)
    [ephemeral] = slack_api.calls("chat.postEphemeral")
    assert (ephemeral.params["channel"], ephemeral.params["user"]) == ("C0OPS000001", "U0CREW00001")
    assert ephemeral.params["text"].startswith("Recorded: $")


def test_an_entry_failing_for_a_day_is_parked(store, slack_api, deliverer):
    a_day_ago = datetime.now(UTC) - timedelta(days=1) + timedelta(seconds=60)
    [payment] = announce_payments(store, 1, at=a_day_ago)
    slack_api.fail_next("chat.postMessage", "channel_not_found")
    deliverer(replace(QUICK, backoff=(120.0,))).drain(10)  # the next try would be past the day
    [parked] = store.parked_entries(10)
    assert (parked.entry_id, parked.state) == (entry_id(payment.payment_id, AUDIT), PARKED)
    assert parked.last_error == "chat.postMessage to C0AUDIT0001 failed: channel_not_found"
    assert store.due_entries("slack", datetime.now(UTC) + timedelta(days=3), 10) == []


def test_a_strike_through_waits_for_the_line_it_changes(store, slack_api, deliverer):
    [payment] = announce_payments(store, 1)
    audit = entry_id(payment.payment_id, AUDIT)
    # Another deliverer is posting the payment's line right now.
    claim_as(store, "other", [audit], "other#1:line", timedelta(minutes=5))
    void = replace(a_payment(next(_ids)), amount_cents=-payment.amount_cents, kind="void", voids=payment.payment_id,
                   logged_by="U0ADMIN0001")
    store.announce(announcer().payment_voided(RecordOutcome(void, EventTotals(GALA.id, 0, 0)), GALA, payment))
    deliver = deliverer()
    deliver.drain(10)
    assert slack_api.calls("chat.update") == []
    assert store.get_entry(entry_id(void.payment_id, "update")).last_error == "waiting for the line it updates"
    store.settle_entries([Settled(audit, DELIVERED, result={"channel": AUDIT_CHANNEL, "ts": "1700000000.000100"})],
                         holder="other", now=datetime.now(UTC))
    deliver.start()
    assert deliver.wait_idle(10)
    [update] = slack_api.calls("chat.update")
    assert (update.params["channel"], update.params["ts"]) == (AUDIT_CHANNEL, "1700000000.000100")
    assert "voided" in update.params["text"].lower()


def test_two_deliverers_on_one_store_send_each_entry_once(store, slack_api, deliverer):
    paid = announce_payments(store, 60)
    first, second = deliverer(holder="one"), deliverer(holder="two")
    threads = [threading.Thread(target=d.drain, args=(20,)) for d in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    values = [c.params["blocks"][-1]["elements"][0]["value"] for c in posts(slack_api)]
    assert sorted(values) == sorted(p.payment_id for p in paid)
    assert all(store.get_entry(entry_id(p.payment_id, AUDIT)).state == DELIVERED for p in paid)


def test_an_email_copy_when_email_is_off_is_not_sent_and_says_why(store, slack_api, deliverer):
    a_day_ago = datetime.now(UTC) - timedelta(days=1) + timedelta(seconds=60)
    payment = a_payment(next(_ids), at=a_day_ago)  # queued while email was on; this process has NoMailer
    outcome = RecordOutcome(payment, EventTotals(GALA.id, payment.amount_cents, 1))
    store.announce(Announcement(None, tuple(announcer(email=True).payment_recorded(outcome, GALA).entries)))
    deliverer(replace(QUICK, backoff=(120.0,))).drain(10)
    [parked] = store.parked_entries(10)
    assert (parked.entry_id, parked.state) == (entry_id(payment.payment_id, EMAIL), PARKED)
    assert parked.last_error == MAIL_OFF == ("email is off in this process (OPSBOT_EMAIL_FROM and OPSBOT_EMAIL_TO "
                                             "are not set)")
    assert len(posts(slack_api)) == 1  # the audit line still went


# -- a write's own entries (Deliverer.deliver: Lambda's rung invocation) ------------------------------------


def written(store, payment: Payment, *, receipt_to=None, paid: int = 0) -> tuple:
    """One payment's write: its announcement in the store; the entries it rings with."""
    outcome = RecordOutcome(payment, EventTotals(GALA.id, paid + payment.amount_cents, 1))
    announcement = announcer().payment_recorded(outcome, GALA, receipt_to=receipt_to)
    store.announce(announcement)
    return announcement.entries


def voided(store, payment: Payment) -> tuple:
    void = replace(a_payment(next(_ids)), amount_cents=-payment.amount_cents, kind="void", voids=payment.payment_id,
                   logged_by="U0ADMIN0001")
    announcement = announcer().payment_voided(RecordOutcome(void, EventTotals(GALA.id, 0, 0)), GALA, payment)
    store.announce(announcement)
    return announcement.entries


class Crash(BaseException):
    """The process dies here: nothing after it runs (not even what ``except Exception`` would)."""


def test_deliver_sends_exactly_the_writes_entries_and_looks_at_no_lane(store, slack_api, deliverer, monkeypatch):
    mine = written(store, a_payment(next(_ids)), receipt_to=("C0OPS000001", "U0CREW00001"))
    [other] = announce_payments(store, 1)  # due as well, but not this write's: the drain's

    def no_look(*args, **kwargs):
        raise AssertionError("deliver looked at a lane")

    monkeypatch.setattr(store, "due_entries", no_look)
    deliver = deliverer()
    assert deliver.deliver(mine, timeout=10) == 2
    [line] = posts(slack_api)
    assert line.params["blocks"][-1]["elements"][0]["value"] == mine[0].record_id
    audit = store.get_entry(mine[0].entry_id)
    assert audit.state == DELIVERED and audit.result == {"channel": AUDIT_CHANNEL, "ts": line.response["ts"]}
    assert line.params["metadata"]["event_payload"] == {"attempt": audit.attempt, "records": 1}
    [receipt] = slack_api.calls("chat.postEphemeral")
    assert receipt.params["user"] == "U0CREW00001" and store.get_entry(mine[1].entry_id).state == DELIVERED
    # The same invocation again (Lambda retries it): nothing more.
    assert deliver.deliver(mine, timeout=10) == 0
    assert len(posts(slack_api)) == 1 and len(slack_api.calls("chat.postEphemeral")) == 1
    monkeypatch.undo()
    assert store.get_entry(entry_id(other.payment_id, AUDIT)).state == PENDING
    assert deliver.drain(10) == 1 and len(posts(slack_api)) == 2


def test_deliver_strikes_the_voided_line_a_pace_after_the_voids_own(store, slack_api, deliverer):
    payment = a_payment(next(_ids))
    written(store, payment)
    paced = deliverer(replace(QUICK, pace=0.3))
    assert paced.drain(10) == 1
    [line] = posts(slack_api)
    assert paced.deliver(voided(store, payment), timeout=10) == 2
    first, void_line = posts(slack_api)
    [update] = slack_api.calls("chat.update")
    assert (update.params["channel"], update.params["ts"]) == (AUDIT_CHANNEL, line.response["ts"])
    assert update.at - void_line.at >= 0.3


def test_what_deliver_cannot_send_stays_for_the_drain(store, slack_api, deliverer):
    mine = written(store, a_payment(next(_ids)), receipt_to=("C0OPS000001", "U0CREW00001"))
    slack_api.fail_next("chat.postMessage", "channel_not_found")
    deliver = deliverer(replace(QUICK, backoff=(120.0,)))
    assert deliver.deliver(mine, timeout=10) == 2  # the line failed (tried again later), the receipt went
    line = store.get_entry(mine[0].entry_id)
    assert (line.state, line.attempts, line.in_doubt) == (PENDING, 1, False)
    assert line.last_error == "chat.postMessage to C0AUDIT0001 failed: channel_not_found"
    assert len(slack_api.calls("chat.postEphemeral")) == 1
    # Entries said to be tried already, or another deliverer's, are not this invocation's to send.
    assert deliver.deliver([replace(e, attempts=1) for e in mine], timeout=10) == 0
    again = written(store, a_payment(next(_ids)))
    claim_as(store, "other", [again[0].entry_id], "other#1:line", timedelta(minutes=5))
    assert deliver.deliver(again, timeout=10) == 0
    assert posts(slack_api) == []


def test_deliver_out_of_time_leaves_the_rest_untried_for_the_drain(store, slack_api, deliverer):
    payment = a_payment(next(_ids))
    written(store, payment)
    deliverer().drain(10)
    # Half of a 0.4 s lease is less than the channel's 0.5 s pace: the strike-through waits for the drain.
    hurried = deliverer(replace(QUICK, pace=0.5, lease=timedelta(seconds=0.4)))
    void = voided(store, payment)
    assert hurried.deliver(void, timeout=10) == 2
    assert len(posts(slack_api)) == 2 and slack_api.calls("chat.update") == []
    update = store.get_entry(void[1].entry_id)
    assert (update.state, update.in_doubt) == (PENDING, False)  # due once the channel's pace allows
    assert update.due_at <= datetime.now(UTC) + timedelta(seconds=0.5)
    assert deliverer(clock=lambda: datetime.now(UTC) + timedelta(seconds=0.5)).drain(10) == 1
    assert len(slack_api.calls("chat.update")) == 1


def test_deliver_dying_before_its_settle_posts_nothing_twice(store, slack_api, deliverer, monkeypatch):
    mine = written(store, a_payment(next(_ids)), receipt_to=("C0OPS000001", "U0CREW00001"))
    settle = store.settle_entries

    def died(*args, together=False, **kwargs):
        if together:
            raise Crash
        return settle(*args, **kwargs)

    monkeypatch.setattr(store, "settle_entries", died)
    with pytest.raises(Crash):
        deliverer().deliver(mine, timeout=10)
    monkeypatch.undo()
    assert len(posts(slack_api)) == 1 and len(slack_api.calls("chat.postEphemeral")) == 1
    # Once the lease runs out, the drain finds the line in the channel (its claim id in the metadata) and
    # parks the receipt, which may have gone out: neither is sent again.
    later = datetime.now(UTC) + QUICK.lease + timedelta(seconds=1)
    assert deliverer(clock=lambda: later).drain(10) == 2
    assert len(posts(slack_api)) == 1 and len(slack_api.calls("chat.postEphemeral")) == 1
    assert store.get_entry(mine[0].entry_id).result == {"channel": AUDIT_CHANNEL,
                                                        "ts": posts(slack_api)[0].response["ts"]}
    [parked] = store.parked_entries(10)
    assert parked.entry_id == mine[1].entry_id and "may have been sent" in parked.last_error


def test_deliver_dying_after_its_claim_leaves_every_entry_to_the_drain(store, slack_api, deliverer, monkeypatch):
    mine = written(store, a_payment(next(_ids)), receipt_to=("C0OPS000001", "U0CREW00001"))
    deliver = deliverer()

    def died(*args, **kwargs):
        raise Crash

    monkeypatch.setattr(deliver, "_send_claimed", died)
    with pytest.raises(Crash):
        deliver.deliver(mine, timeout=10)
    assert posts(slack_api) == [] and [store.get_entry(e.entry_id).state for e in mine] == ["held", "held"]
    later = datetime.now(UTC) + QUICK.lease + timedelta(seconds=1)
    assert deliverer(clock=lambda: later).drain(10) == 2
    assert len(posts(slack_api)) == 1 and len(slack_api.calls("chat.postEphemeral")) == 1
    assert len(slack_api.calls("conversations.history")) == 1  # the line's claim was under way: looked for first
