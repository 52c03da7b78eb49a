"""DynamoDB round trips per Slack interaction (issue 19), counted on moto by a botocore
``before-call`` hook as bench/round_trips_bench.py counts them: pinned so they cannot creep back.

``ack``: the request and its lazy listeners; ``after``: the deliverer's passes that deliver
what the interaction announced, until the outbox holds nothing due (its looks at both lanes
included: one query a lane when it finds nothing due, as Lambda's ``drain`` runs)."""

from __future__ import annotations

import pytest

from bench.round_trips_bench import MANY, measure

# name -> (most requests in the ack, most after it). The goals where they are met; where they
# are not yet (the deliverer's claim, settle and looks), what it costs today, so that it cannot grow.
PINNED = {
    "one-liner /log-payment": (2, 4),
    "replayed duplicate one-liner": (1, 2),
    "payment modal submission": (2, 7),
    "void (button)": (3, 8),
    "/events": (1, 2),
    "/events EVENT (short history)": (3, 2),
    "/events EVENT (long history)": (3, 2),
    "App Home": (3, 2),
    "App Home (long history)": (3, 2),
    MANY: (4, 2),
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


def test_events_event_reads_the_same_whatever_the_history(counts):
    assert counts["/events EVENT (long history)"].ack == counts["/events EVENT (short history)"].ack


def test_the_app_home_is_one_read_by_key_and_two_queries_whatever_the_sites_deploys_and_links(counts):
    # Every event's totals, each shown site's last deploy and the nearest events' payment links, by key (one
    # BatchGetItem per 100 keys), then today's records and the parked announcements (admins).
    assert counts["App Home"].ack == ["BatchGetItem", "Query", "Query"]
    assert counts["App Home (long history)"].ack == counts["App Home"].ack
    # 150 events, 15 of 20 sites shown, 30 nearest events and "no event": 197 keys, two BatchGetItems.
    assert counts[MANY].ack == ["BatchGetItem", "BatchGetItem", "Query", "Query"]
