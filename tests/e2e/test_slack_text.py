"""Text from Slack, round trip: Slack escapes ``&``, ``<``, ``>`` in a slash
command's text (the test client sends it so, as Slack does) and sends a modal's
inputs as typed. The bot unescapes once where text enters, stores plain text,
escapes once where it writes mrkdwn, and never in plain_text, Stripe or an
email's text part. Every text field: patron, notes, paylink description, assign
arguments."""

from __future__ import annotations

from blocks.email import payment_email
from bot.core.stripe_intake import UNASSIGNED
from infra.local_slack.signing import slash_command_body
from tests.conftest import ADMIN_USER
from tests.fakes.stripe_api import StripeApiStandIn
from tests.slack_bot import Bot

JADA = "2026-05-23-jada-charter"
PATRON = "Bo & Co <VIP> &amp; sons"  # what the person typed: "&amp;" is part of the name
ESCAPED = "Bo &amp; Co &lt;VIP&gt; &amp;amp; sons"  # once, as mrkdwn shows it literally
NOTES = "Paid <cash> & thanked; see &lt;notebook&gt;"


def test_the_payload_builder_escapes_command_text_as_slack_does():
    assert "text=Bo+%26amp%3B+Co+%26lt%3BVIP%26gt%3B+%26amp%3Bamp%3B+sons" in slash_command_body("/x", PATRON)


def test_the_same_patron_typed_on_the_one_line_and_in_the_form_is_stored_identically(bot: Bot):
    one_line = bot.command("/log-payment", f"jada 25 cash {PATRON}").json()
    bot.lazies.wait_idle()
    view = bot.open_modal("jada")
    assert bot.submit(view, event=JADA, patron=PATRON, amount="30", method="venmo", notes=NOTES).status == 200
    bot.lazies.wait_idle()
    first, second = bot.services.ledger.event_payments(JADA)
    assert first.patron == second.patron == PATRON
    assert second.notes == NOTES
    # Shown once escaped everywhere mrkdwn is written: the receipt, the audit lines, /events.
    assert f"from {ESCAPED} for JADA Charter" in one_line["text"]
    audit = [c.params for c in bot.audit_posts()]
    assert [f"from *{ESCAPED}*" in a["blocks"][0]["text"]["text"] for a in audit] == [True, True]
    assert audit[1]["blocks"][1]["elements"][0]["text"].endswith(
        "Notes: Paid &lt;cash&gt; &amp; thanked; see &amp;lt;notebook&amp;gt;")
    assert all(ESCAPED in a["text"] for a in audit)  # the notification fallback is mrkdwn too
    listing = bot.command("/events", "jada").json()
    assert listing["blocks"][2]["text"]["text"] == f"*Who paid* · 1 patron\n*{ESCAPED}* · $55.00 · 2 payments"
    assert listing["blocks"][3]["text"]["text"].count(ESCAPED) == 2
    assert "&amp;amp;amp;" not in str(listing) and "&amp;lt;VIP" not in str(listing)
    # The Void button's confirmation is mrkdwn; the email's text part is plain.
    assert ESCAPED in audit[0]["blocks"][2]["elements"][0]["confirm"]["text"]["text"]
    email = payment_email(first, bot.services.ledger.status(JADA), bot.services.settings.timezone)
    assert f"Patron:      {PATRON}\n" in email.text
    assert "Bo &amp;amp; Co &amp;lt;VIP&amp;gt;" not in email.html and "Bo &amp; Co &lt;VIP&gt;" in email.html


def test_a_one_line_mistake_echoes_the_text_once_escaped(bot: Bot):
    reply = bot.command("/log-payment", "jada 25 <cash> Bo").json()["text"]
    assert reply.startswith("'&lt;cash&gt;' is not a payment method.")


def test_a_paylink_description_reaches_stripe_as_typed_and_slack_escaped_once(stripe_bot, stripe_api:
                                                                               StripeApiStandIn):
    bot = stripe_bot
    bot.command("/paylink", "120 Dinner & drinks <VIP> --event jada", user=ADMIN_USER)
    bot.lazies.wait_idle()
    [product] = stripe_api.requests("/v1/products")
    assert product.params["name"] == "Dinner & drinks <VIP>"
    [link] = bot.services.paylinks.event_links(JADA)
    assert link.link.description == "Dinner & drinks <VIP>"
    [posted] = [c for c in bot.slack_api.calls("response_url") if c.params.get("response_type") == "in_channel"]
    assert "\nDinner &amp; drinks &lt;VIP&gt;\n" in posted.params["blocks"][0]["text"]["text"]


def test_dry_run_of_a_paylink_names_the_product_once_escaped(bot: Bot):
    reply = bot.command("/paylink", "120 Dinner & drinks", user=ADMIN_USER).json()["text"]
    assert "• product “Dinner &amp; drinks”" in reply


def test_assign_arguments_are_read_as_typed(stripe_bot):
    bot, session_id = stripe_bot, "cs_test_a&b<c>"
    bot.services.store.put_record(UNASSIGNED, "-", session_id, {
        "session_id": session_id, "amount_cents": 5_000, "currency": "usd", "patron": "Cy & Di", "metadata": {},
        "reason": None, "received_at": "2026-05-20T17:00:00+00:00"}, if_absent=True)
    reply = bot.command("/opsbot", f"assign {session_id} jada", user=ADMIN_USER).json()["text"]
    assert reply.startswith("Stripe payment `cs_test_a&amp;b&lt;c&gt;` assigned. Recorded: $50.00 (stripe) from "
                            "Cy &amp; Di")
    bot.lazies.wait_idle()
    [payment] = bot.services.ledger.event_payments(JADA)
    assert (payment.patron, payment.notes) == ("Cy & Di", session_id)


def test_a_huge_echo_is_shortened_in_the_reply(bot: Bot):
    reply = bot.command("/log-payment", "jada 25 " + "<&>" * 20_000 + " Bo").json()["text"]  # checked by Slack's rules
    assert reply.startswith("'&lt;&amp;&gt;&lt;&amp;&gt;") and len(reply) < 1500 and "…" in reply
    assert bot.services.ledger.status(JADA).payment_count == 0
