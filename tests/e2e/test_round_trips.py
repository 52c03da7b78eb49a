"""DynamoDB round trips per Slack interaction (issue 19), counted on moto by a botocore
``before-call`` hook as bench/round_trips_bench.py counts them: pinned so they cannot creep back.

``ack``: the request and its lazy listeners; ``after``: what Lambda runs for the interaction's
rings, each an invocation carrying the entries its write announced (``run_delivery`` on the
payload ``deliver_payload`` makes: ``Deliverer.deliver``, no look at the lanes)."""

from __future__ import annotations

import pytest

from bench.round_trips_bench import MANY, measure

# name -> (most requests in the ack, most after it). The goals where they are met; where they
# are not yet, what it costs today, so that it cannot grow.
PINNED = {
    "one-liner /log-payment": (2, 2),
    "replayed duplicate one-liner": (1, 0),
    "payment modal submission": (2, 3),
    "void (button)": (3, 3),
    "/events": (1, 0),
    "/events EVENT (short history)": (3, 0),
    "/events EVENT (long history)": (3, 0),
    "App Home": (3, 0),
    "App Home (long history)": (3, 0),
    MANY: (4, 0),
}


@pytest.fixture(scope="module")
def counts(moto_endpoint):
    return {c.name: c for c in measure(moto_endpoint, history=120)}


@pytest.mark.parametrize("name", sorted(PINNED))
def test_dynamodb_requests_per_interaction_stay_pinned(counts, name):
    ack, after = PINNED[name]
    count = counts[name]
    assert len(count.ack) <= ack, count.ack
    assert len(count.after) <= after, count.after


def test_a_payment_is_one_read_and_one_transaction_and_a_replay_one_read(counts):
    assert counts["one-liner /log-payment"].ack == ["BatchGetItem", "TransactWriteItems"]
    assert counts["payment modal submission"].ack == ["BatchGetItem", "TransactWriteItems"]
    assert counts["replayed duplicate one-liner"].ack == ["BatchGetItem"]
    # The void button: the payment read once (its pointer, then the payment and its event's totals together),
    # for the question (a Stripe refund to ask about?) and the void; one write (compare-and-set: nothing after).
    assert counts["void (button)"].ack == ["GetItem", "BatchGetItem", "TransactWriteItems"]


def test_after_the_ack_a_write_claims_its_entries_in_one_request_and_settles_them_in_one(counts):
    # The one-liner's audit line alone: its claim and its settle.
    assert counts["one-liner /log-payment"].after == ["UpdateItem", "UpdateItem"]
    # The form's line and receipt claimed together, the receipt marked under way before its call, both settled.
    assert counts["payment modal submission"].after == ["TransactWriteItems", "UpdateItem", "TransactWriteItems"]
    # The void's line and the strike-through claimed together, the struck line's entry read, both settled.
    assert counts["void (button)"].after == ["TransactWriteItems", "GetItem", "TransactWriteItems"]
    assert counts["replayed duplicate one-liner"].after == counts["/events"].after == []  # nothing rung


def test_events_event_reads_the_same_whatever_the_history(counts):
    assert counts["/events EVENT (long history)"].ack == counts["/events EVENT (short history)"].ack


def test_the_app_home_is_one_read_by_key_and_two_queries_whatever_the_sites_deploys_and_links(counts):
    # Every event's totals, each shown site's last deploy and the nearest events' payment links, by key (one
    # BatchGetItem per 100 keys), then today's records and the parked announcements (admins).
    assert counts["App Home"].ack == ["BatchGetItem", "Query", "Query"]
    assert counts["App Home (long history)"].ack == counts["App Home"].ack
    # 150 events, 15 of 20 sites shown, 30 nearest events and "no event": 197 keys, two BatchGetItems.
    assert counts[MANY].ack == ["BatchGetItem", "BatchGetItem", "Query", "Query"]
