"""Email copies through SES (moto's server): payments, voids, Stripe payments and the
daily summary, once each, never in Slack's way, and a failure noted once in the audit channel.
A record's copy is an outbox entry written with it; the deliverer's email lane sends it."""

from __future__ import annotations

import email
import email.policy
import email.utils
import json
import threading
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import boto3
import pytest

from blocks.email import payment_email, refund_email, summary_email, void_email
from bot.config import ConfigError, EmailSettings, load_settings
from bot.core.domain import Event, EventStatus, Payment
from bot.core.ports import MailError, OutgoingEmail
from bot.core.summary import build_summary
from bot.entrypoints.aws_lambda import build_lambda_bot, handle
from bot.entrypoints.scheduler import build_scheduler, send_daily_summary
from infra.local_slack.signing import slash_command_body
from infra.ses_mailer import SesMailer
from tests.conftest import ADMIN_USER, AUDIT_CHANNEL
from tests.e2e.test_doctor import base_env, doctor, run
from tests.e2e.test_stripe_webhook import make_link
from tests.fakes.stripe_api import API_KEY, WEBHOOK_SECRET
from tests.integration.test_aws_lambda import CONTEXT, FakeLambda, slack_event
from tests.slack_bot import TEST_POLICY, drain_outbox
from tests.stripe_fixtures import deliver

REGION = "us-west-2"
JADA = "2026-05-23-jada-charter"  # $1,560.00
ADMINS = ("owner@example.com", "books@example.org")
TZ = ZoneInfo("America/Los_Angeles")


# -- SES on moto ------------------------------------------------------------------------------------


@dataclass
class SentEmail:
    sender: str
    to: list[str]
    subject: str
    text: str
    html: str


def new_sender(moto_endpoint: str, *, verified: bool = True) -> str:
    """A sender address of this test's own (so the shared moto server's other mail is not counted)."""
    address = f"ops-{uuid.uuid4().hex[:8]}@example.com"
    if verified:
        boto3.client("sesv2", region_name=REGION, endpoint_url=moto_endpoint).create_email_identity(
            EmailIdentity=address)
    return address


def sent_from(sender: str) -> list[SentEmail]:
    """What SES (moto's backend in this process) accepted from ``sender``, parsed as a mail client would."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    out = []
    for raw in ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages:
        if email.utils.parseaddr(getattr(raw, "source", None) or "")[1] != sender:
            continue
        message = email.message_from_string(raw.raw_data, policy=email.policy.default)
        out.append(SentEmail(sender=raw.source, to=[a.strip() for a in message["To"].split(",")],
                             subject=str(message["Subject"]),
                             text=message.get_body(("plain",)).get_content(),
                             html=message.get_body(("html",)).get_content()))
    return out


def email_env(moto_endpoint: str, sender: str) -> dict[str, str]:
    return {"OPSBOT_EMAIL_FROM": sender, "OPSBOT_EMAIL_TO": ",".join(ADMINS), "AWS_ENDPOINT_URL": moto_endpoint,
            "AWS_REGION": REGION}


def settle(bot) -> None:
    """Wait for the lazy listeners and the outbox (email copies included)."""
    bot.lazies.wait_idle()


def failure_notes(slack_api) -> list[str]:
    return [c.params["text"] for c in slack_api.calls("chat.postMessage")
            if c.params["channel"] == AUDIT_CHANNEL and c.params["text"].startswith("Email to ")]


# -- settings ---------------------------------------------------------------------------------------


def test_email_settings_new_names_old_names_and_off():
    def load(**env: str):
        return load_settings(environ=env, env_file=None).email

    assert load() is None
    assert load(OPSBOT_EMAIL_FROM="opsbot <ops@example.com>", OPSBOT_EMAIL_TO="a@example.com, b@example.org ,") == \
        EmailSettings("opsbot <ops@example.com>", ("a@example.com", "b@example.org"))
    old = load(SES_SENDER_EMAIL="ops@example.com", ADMIN_NOTIFY_EMAILS="a@example.com,a@example.com")
    assert old == EmailSettings("ops@example.com", ("a@example.com",), "SES_SENDER_EMAIL", "ADMIN_NOTIFY_EMAILS")
    assert old.sender_address == "ops@example.com"
    # A new name wins over the old one.
    assert load(OPSBOT_EMAIL_FROM="new@example.com", SES_SENDER_EMAIL="old@example.com",
                ADMIN_NOTIFY_EMAILS="a@example.com").sender == "new@example.com"


@pytest.mark.parametrize(("env", "message"), [
    ({"OPSBOT_EMAIL_TO": "a@example.com"},
     "OPSBOT_EMAIL_TO: set, but OPSBOT_EMAIL_FROM is not: set the SES sender address too, or remove "
     "OPSBOT_EMAIL_TO to turn email off"),
    ({"SES_SENDER_EMAIL": "ops@example.com"},
     "SES_SENDER_EMAIL: set, but OPSBOT_EMAIL_TO is not: set who gets the emails (comma-separated addresses), "
     "or remove SES_SENDER_EMAIL to turn email off"),
    ({"OPSBOT_EMAIL_FROM": "ops at example", "OPSBOT_EMAIL_TO": "a@example.com"},
     "OPSBOT_EMAIL_FROM: expected one email address like ops@example.com or \"opsbot <ops@example.com>\", "
     "got 'ops at example'"),
    ({"OPSBOT_EMAIL_FROM": "ops@example.com", "ADMIN_NOTIFY_EMAILS": "a@example.com; b@example.com"},
     "ADMIN_NOTIFY_EMAILS: expected comma-separated email addresses like a@example.com,b@example.com, "
     "not 'a@example.com; b@example.com'"),
])
def test_a_half_set_or_malformed_email_setting_names_the_variable(env, message):
    with pytest.raises(ConfigError) as caught:
        load_settings(environ=env, env_file=None)
    assert str(caught.value) == message


# -- the messages (pure builders) ---------------------------------------------------------------------

JADA_EVENT = Event(id=JADA, title="JADA Charter", date=date(2026, 5, 23), total_cents=156_000)


def a_payment(**fields) -> Payment:
    base = dict(payment_id="pay_q5kvmwb9qz", event_id=JADA, patron="Ana Ruiz", amount_cents=100_000, method="venmo",
                notes="", logged_by="U0CREW00001", recorded_at=datetime(2026, 5, 2, 1, 30, tzinfo=UTC),
                day="2026-05-01")
    return Payment(**{**base, **fields})


def test_a_payment_email_in_text_and_html():
    mail = payment_email(a_payment(notes="deposit"), EventStatus(JADA_EVENT, 100_000, 1), TZ)
    assert mail.key == "payment:pay_q5kvmwb9qz"
    assert mail.subject == "Payment logged: $1,000.00 from Ana Ruiz for JADA Charter"
    assert mail.text == (
        "Payment logged: $1,000.00 from Ana Ruiz for JADA Charter\n"
        "\n"
        "Amount:      $1,000.00\n"
        "Method:      venmo\n"
        "Patron:      Ana Ruiz\n"
        "Event:       JADA Charter (Sat May 23, 2026)\n"
        "Logged by:   Slack user U0CREW00001\n"
        "When:        Fri May 1, 2026 6:30 PM PDT\n"
        "Balance now: $560.00 of $1,560.00\n"
        "Payment id:  pay_q5kvmwb9qz\n"
        "Notes:       deposit\n"
        "\n"
        "Sent by opsbot. The ledger is the record; this email is a copy.\n")
    assert ('<tr><th align="left" style="padding:2px 12px 2px 0;font-weight:600">Balance now</th>'
            '<td style="padding:2px 0">$560.00 of $1,560.00</td></tr>') in mail.html


def test_html_escapes_the_patron_and_the_subject_stays_one_line():
    patron = "<script>alert('x')</script>\r\nBcc: everyone@example.com"
    mail = payment_email(a_payment(patron=patron, notes="<b>hi</b> & bye"), EventStatus(JADA_EVENT, 100_000, 1), TZ)
    assert "<script>" not in mail.html and "<b>" not in mail.html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; Bcc: everyone@example.com" in mail.html
    assert "&lt;b&gt;hi&lt;/b&gt; &amp; bye" in mail.html
    assert "\n" not in mail.subject and "\r" not in mail.subject
    assert mail.subject == ("Payment logged: $1,000.00 from <script>alert('x')</script> Bcc: everyone@example.com "
                            "for JADA Charter")


def test_void_and_stripe_emails_say_what_they_are():
    void = a_payment(payment_id="void_7h2k", amount_cents=-30_000, method="zelle", kind="void",
                     voids="pay_q5kvmwb9qz", logged_by=ADMIN_USER)
    mail = void_email(void, EventStatus(JADA_EVENT, 70_000, 1), TZ)
    assert (mail.key, mail.subject) == ("void:void_7h2k", "Payment voided: $300.00 from Ana Ruiz for JADA Charter")
    assert "Amount reversed: $300.00\n" in mail.text and "Payment voided:  pay_q5kvmwb9qz\n" in mail.text
    assert "Balance now:     $860.00 of $1,560.00\n" in mail.text
    stripe = payment_email(a_payment(method="stripe", source="stripe", logged_by="stripe", amount_cents=156_000),
                           EventStatus(JADA_EVENT, 156_000, 1), TZ)
    assert stripe.subject == "Stripe payment: $1,560.00 from Ana Ruiz for JADA Charter"
    assert "Logged by:   Stripe Checkout\n" in stripe.text
    assert "Balance now: $0.00 of $1,560.00 (paid in full)\n" in stripe.text



def test_refund_emails_say_what_was_refunded_or_given_back():
    refund = a_payment(payment_id="ref_7h2k", amount_cents=-30_000, method="stripe", source="stripe", kind="refund",
                       voids="pay_q5kvmwb9qz", logged_by="stripe", stripe_id="re_test_1")
    mail = refund_email(refund, EventStatus(JADA_EVENT, 70_000, 1), TZ)
    assert (mail.key, mail.subject) == ("refund:ref_7h2k", "Stripe refund: $300.00 to Ana Ruiz for JADA Charter")
    assert "Amount refunded: $300.00\n" in mail.text and "Stripe refund:   re_test_1\n" in mail.text
    back = refund_email(replace(refund, payment_id="rfl_7h2k", amount_cents=30_000, kind="refund_failed"),
                        EventStatus(JADA_EVENT, 100_000, 1), TZ)
    assert back.subject == "Stripe refund failed, money back: $300.00 to Ana Ruiz for JADA Charter"
    assert "Amount back:   $300.00\n" in back.text and back.key == "refund_failed:rfl_7h2k"


# -- the SES adapter ----------------------------------------------------------------------------------


def test_ses_sends_one_mime_email_with_both_parts(moto_endpoint):
    sender = new_sender(moto_endpoint)
    mail = OutgoingEmail(key="k", subject="Hello <you>", text="plain $1,560.00\n", html="<p>html &amp; more</p>")
    message_id = SesMailer(REGION, moto_endpoint).send(f"opsbot <{sender}>", list(ADMINS), mail)
    assert message_id
    [sent] = sent_from(sender)
    assert (sent.to, sent.subject, sent.text, sent.html) == (
        list(ADMINS), "Hello <you>", "plain $1,560.00\n", "<p>html &amp; more</p>\n")


def test_ses_refuses_an_unverified_sender_for_good(moto_endpoint):
    sender = new_sender(moto_endpoint, verified=False)
    with pytest.raises(MailError) as caught:
        SesMailer(REGION, moto_endpoint).send(sender, list(ADMINS), OutgoingEmail("k", "s", "t", "<p>h</p>"))
    assert caught.value.retryable is False
    assert caught.value.reason == f"SES refused it: Did not have authority to send from email {sender} " \
                                  "(MessageRejected)"


# -- through the running bot ----------------------------------------------------------------------------


def test_a_payment_and_its_void_are_emailed_once_each(make_bot, moto_endpoint):
    sender = new_sender(moto_endpoint)
    bot = make_bot(**email_env(moto_endpoint, sender))
    trigger = "13345224609.738474920.emailonce01"
    reply = bot.command("/log-payment", "jada 500 venmo Ana Ruiz", trigger=trigger)
    assert reply.json()["text"].startswith("Recorded: $500.00 (venmo) from Ana Ruiz for JADA Charter")
    # Slack delivers the same command again (a retry): still one payment, one email.
    bot.command("/log-payment", "jada 500 venmo Ana Ruiz", trigger=trigger, headers={"X-Slack-Retry-Num": "1"})
    settle(bot)
    [payment] = bot.services.ledger.event_payments(JADA)
    [sent] = sent_from(sender)
    assert sent.to == list(ADMINS)
    assert sent.subject == "Payment logged: $500.00 from Ana Ruiz for JADA Charter"
    assert "Amount:      $500.00\n" in sent.text and f"Payment id:  {payment.payment_id}\n" in sent.text
    assert "Balance now: $1,060.00 of $1,560.00\n" in sent.text
    assert "Logged by:   Slack user" in sent.text

    [audit] = bot.audit_posts()
    bot.click_void(payment.payment_id, user=ADMIN_USER, message_ts=audit.response["ts"])
    bot.click_void(payment.payment_id, user=ADMIN_USER, message_ts=audit.response["ts"])  # a second press
    settle(bot)
    sent = sent_from(sender)
    assert [s.subject for s in sent] == ["Payment logged: $500.00 from Ana Ruiz for JADA Charter",
                                         "Payment voided: $500.00 from Ana Ruiz for JADA Charter"]
    assert "Balance now:     $1,560.00 of $1,560.00\n" in sent[1].text
    assert failure_notes(bot.slack_api) == []


def test_a_patron_named_script_is_escaped_in_the_html_that_ses_sends(make_bot, moto_endpoint):
    sender = new_sender(moto_endpoint)
    bot = make_bot(**email_env(moto_endpoint, sender))
    view = bot.open_modal()
    assert bot.submit(view, event=JADA, patron="<script>alert(1)</script>", amount="125", method="cash").status == 200
    settle(bot)
    [sent] = sent_from(sender)
    assert "<script>" not in sent.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in sent.html
    assert "Patron:      <script>alert(1)</script>\n" in sent.text  # plain text is shown as text, not run


def test_email_never_holds_up_slack(make_bot, moto_endpoint):
    """A mail service that hangs: the ack and the audit line are not kept waiting; the email goes after."""
    sender = new_sender(moto_endpoint)
    bot = make_bot(**email_env(moto_endpoint, sender))
    release = threading.Event()
    ses = bot.deliverer.mailer

    class HangingMailer:
        def send(self, *args):
            assert release.wait(30), "the test never let the email go"
            return ses.send(*args)

    bot.deliverer.mailer = HangingMailer()
    reply = bot.command("/log-payment", "jada 125 cash Bo Li")
    assert reply.status == 200 and reply.json()["text"].startswith("Recorded: $125.00 (cash) from Bo Li")
    bot.slack_api.wait_for("chat.postMessage")  # the audit line went out while the email still hangs
    assert sent_from(sender) == []
    release.set()
    settle(bot)
    assert [s.subject for s in sent_from(sender)] == ["Payment logged: $125.00 from Bo Li for JADA Charter"]
    assert len(bot.audit_posts()) == 1


def test_an_unverified_sender_is_parked_noted_once_and_the_payment_stands(make_bot, moto_endpoint):
    sender = new_sender(moto_endpoint, verified=False)
    bot = make_bot(**email_env(moto_endpoint, sender))
    trigger = "13345224609.738474920.unverified1"
    reply = bot.command("/log-payment", "jada 200 check Ana Ruiz", trigger=trigger)
    assert reply.json()["text"].startswith("Recorded: $200.00 (check) from Ana Ruiz")
    settle(bot)
    bot.command("/log-payment", "jada 200 check Ana Ruiz", trigger=trigger, headers={"X-Slack-Retry-Num": "1"})
    settle(bot)
    assert bot.services.ledger.status(JADA).paid_cents == 20_000
    [payment] = bot.services.ledger.event_payments(JADA)
    assert sent_from(sender) == []
    assert failure_notes(bot.slack_api) == [
        f"Email to {', '.join(ADMINS)} failed: SES refused it: Did not have authority to send from email {sender} "
        "(MessageRejected)"]
    [note] = [c for c in bot.slack_api.calls("chat.postMessage") if c.params["text"].startswith("Email to ")]
    assert note.params["blocks"][0]["text"]["text"] == (
        f":warning: Email to {', '.join(ADMINS)} failed: SES refused it: Did not have authority to send from email "
        f"{sender} (MessageRejected)\nIt was “Payment logged: $200.00 from Ana Ruiz for JADA Charter”. The record "
        "itself is kept; only the email copy is missing.")
    # SES refused for good: the copy is parked (doctor and the App Home show it), tried once, kept in the audit log.
    [parked] = bot.services.store.parked_entries(10)
    assert (parked.entry_id, parked.attempts) == (f"{payment.payment_id}:email", 1)
    assert "MessageRejected" in parked.last_error
    assert [(e.result, e.detail["email"]) for e in bot.services.store.day_audit(payment.day)
            if e.action == "email.send"] == [("failed", f"{payment.payment_id}:email")]


def test_a_stripe_payment_is_emailed_once_across_redelivery(make_bot, stripe_api, moto_endpoint):
    sender = new_sender(moto_endpoint)
    bot = make_bot(STRIPE_API_KEY=API_KEY, OPSBOT_STRIPE_API_BASE=stripe_api.base_url,
                   STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET, **email_env(moto_endpoint, sender))
    event = stripe_api.checkout_session_event(make_link(bot, stripe_api), name="Ana Ruiz")
    assert deliver(bot, event).status == 200
    assert deliver(bot, event).json()["replayed"] is True
    settle(bot)
    [sent] = sent_from(sender)
    assert sent.subject == "Stripe payment: $1,560.00 from Ana Ruiz for JADA Charter"
    assert "Logged by:   Stripe Checkout\n" in sent.text
    assert "Balance now: $0.00 of $1,560.00 (paid in full)\n" in sent.text


def test_the_web_api_payment_is_emailed_without_waiting(make_bot, moto_endpoint):
    import bcrypt

    from tests.http_client import post

    sender = new_sender(moto_endpoint)
    bot = make_bot(ADMIN_PASS_HASH=bcrypt.hashpw(b"pw", bcrypt.gensalt(4)).decode(),
                   **email_env(moto_endpoint, sender))
    body = json.dumps({"event_id": JADA, "patron_name": "Web Patron", "amount": "75", "payment_method": "card"})
    reply = post(bot.base_url + "/api/payment/log", body, {"Content-Type": "application/json", "X-Admin-Token": "pw"})
    assert reply.status == 200
    settle(bot)
    [sent] = sent_from(sender)
    assert sent.subject == "Payment logged: $75.00 from Web Patron for JADA Charter"
    assert "Logged by:   the web API\n" in sent.text


# -- the daily summary -----------------------------------------------------------------------------------


def test_the_daily_summary_is_emailed_once_beside_the_slack_post(make_bot, moto_endpoint):
    sender = new_sender(moto_endpoint)
    bot = make_bot(**email_env(moto_endpoint, sender))
    bot.command("/log-payment", "jada 500 venmo Ana Ruiz")
    settle(bot)
    today = bot.services.ledger.today()
    assert send_daily_summary(bot.services, today) is True
    assert send_daily_summary(bot.services, today) is False  # a second scheduler, a restart: nothing more
    summaries = [s for s in sent_from(sender) if s.subject.startswith("Payments for")]
    assert [s.subject for s in summaries] == [f"Payments for {today:%a %b %-d, %Y}: 1 payment, $500.00."]
    assert "1 payment · $500.00" in summaries[0].text and "JADA Charter: 1 · $500.00" in summaries[0].text
    assert "<li>JADA Charter: 1 · $500.00</li>" in summaries[0].html
    assert len([c for c in bot.audit_posts() if c.params["text"].startswith("Payments for")]) == 1


def test_without_slack_the_summary_still_goes_by_email(make_settings, moto_endpoint, slack_api):
    from bot.bootstrap import build_services

    sender = new_sender(moto_endpoint)
    services = build_services(make_settings(SLACK_BOT_TOKEN=None, SLACK_SIGNING_SECRET=None,
                                            OPSBOT_AUDIT_CHANNEL=None, **email_env(moto_endpoint, sender)))
    services.store.init_schema()
    assert [job.id for job in build_scheduler(services).get_jobs()] == ["daily-summary"]
    day = date(2026, 11, 21)
    assert send_daily_summary(services, day) is True
    [sent] = sent_from(sender)
    assert sent.subject == "Payments for Sat Nov 21, 2026: no payments."
    assert "No payments logged on Sat Nov 21." in sent.text
    assert slack_api.calls("chat.postMessage") == []


def test_summary_email_matches_the_slack_figures(services):
    services.ledger.record_payment(event_id=JADA, patron="A & B", amount="60", method="cash", notes="",
                                   logged_by=ADMIN_USER, idempotency_key="k1")
    summary = build_summary(services.ledger, services.ledger.today())
    mail = summary_email(summary)
    assert "A &amp; B" not in mail.html  # patrons are not listed; titles and tallies are
    assert "<strong>1 payment · $60.00</strong>" in mail.html
    assert mail.text.startswith(f"Payments for {summary.day:%a %b %-d, %Y}\n")


# -- retries, with a small fake mail service ------------------------------------------------------------


class FlakyMailer:
    """Fails ``failures`` times (retryable or not, or after sending), then accepts."""

    def __init__(self, failures: int, *, retryable: bool = True, maybe_sent: bool = False):
        self.failures, self.retryable, self.maybe_sent = failures, retryable, maybe_sent
        self.tries: list[str] = []
        self.sent: list[OutgoingEmail] = []

    def send(self, sender, recipients, mail):
        self.tries.append(mail.subject)
        if len(self.tries) <= self.failures:
            raise MailError("SES refused it: Maximum sending rate exceeded. (TooManyRequestsException)",
                            retryable=self.retryable, maybe_sent=self.maybe_sent)
        self.sent.append(mail)
        return f"msg-{len(self.sent)}"


def email_bot(make_bot, mailer, **overrides):
    return make_bot(mailer=mailer, OPSBOT_EMAIL_FROM="ops@example.com", OPSBOT_EMAIL_TO=",".join(ADMINS),
                    **overrides)


@pytest.mark.parametrize("make_bot", ["sqlite"], indirect=True)
def test_a_throttled_send_is_retried_with_backoff_and_sent_once(make_bot):
    mailer = FlakyMailer(2)
    bot = email_bot(make_bot, mailer)
    bot.command("/log-payment", "jada 5 cash Ana Ruiz")
    settle(bot)
    [payment] = bot.services.ledger.event_payments(JADA)
    subject = "Payment logged: $5.00 from Ana Ruiz for JADA Charter"
    assert (mailer.tries, [m.subject for m in mailer.sent]) == ([subject] * 3, [subject])
    entry = bot.services.store.get_entry(f"{payment.payment_id}:email")
    assert (entry.state, entry.attempts, entry.result) == ("delivered", 3, {"message_id": "msg-1"})
    assert failure_notes(bot.slack_api) == []


@pytest.mark.parametrize("make_bot", ["sqlite"], indirect=True)
def test_a_send_that_keeps_failing_for_a_day_is_parked_logged_and_noted_once(make_bot, caplog):
    mailer = FlakyMailer(99)
    # A deliverer whose retries are a day apart: the second failure is past the day.
    bot = email_bot(make_bot, mailer, policy=replace(TEST_POLICY, backoff=(0.05, 86_400.0)))
    bot.command("/log-payment", "jada 5 cash Ana Ruiz")
    settle(bot)
    [payment] = bot.services.ledger.event_payments(JADA)
    [parked] = bot.services.store.parked_entries(10)
    assert (parked.entry_id, parked.state, len(mailer.tries)) == (f"{payment.payment_id}:email", "parked", 2)
    assert failure_notes(bot.slack_api) == [
        f"Email to {', '.join(ADMINS)} failed: SES refused it: Maximum sending rate exceeded. "
        "(TooManyRequestsException)"]
    assert f"email {payment.payment_id}:email to owner@example.com, books@example.org failed" in caplog.text
    # An admin fixed it: the parked copy is tried again, and sent.
    mailer.failures = 0
    assert bot.services.store.requeue_parked(bot.services.clock(), 10) == 1
    settle(bot)
    assert len(mailer.sent) == 1 and len(failure_notes(bot.slack_api)) == 1


@pytest.mark.parametrize("make_bot", ["sqlite"], indirect=True)
def test_a_refusal_is_not_retried(make_bot):
    mailer = FlakyMailer(1, retryable=False)
    bot = email_bot(make_bot, mailer)
    bot.command("/log-payment", "jada 5 cash Ana Ruiz")
    settle(bot)
    assert len(mailer.tries) == 1 and mailer.sent == []
    assert len(bot.services.store.parked_entries(10)) == 1


@pytest.mark.parametrize("make_bot", ["sqlite"], indirect=True)
def test_an_email_that_may_have_gone_out_is_never_sent_twice(make_bot):
    """SES's answer was lost (a read timeout): the copy may be in the inbox already. It is parked
    for an admin to look at, not sent a second time."""
    mailer = FlakyMailer(1, maybe_sent=True)
    bot = email_bot(make_bot, mailer)
    bot.command("/log-payment", "jada 5 cash Ana Ruiz")
    settle(bot)
    assert len(mailer.tries) == 1
    [parked] = bot.services.store.parked_entries(10)
    assert parked.in_doubt and "may have been sent" in parked.last_error
    assert failure_notes(bot.slack_api) == []  # not a refusal: nothing to fix at SES


def test_the_daily_summary_email_is_retried_and_a_failure_noted_once(services, slack_api):
    from bot.core.email_copies import EmailCopies

    waits: list[float] = []
    mailer = FlakyMailer(99)
    copies = EmailCopies(mailer, EmailSettings("ops@example.com", ADMINS), services.once, services.store,
                         services.announcer, services.clock, sleep=waits.append)
    summary = build_summary(services.ledger, date(2026, 11, 21))
    assert copies.deliver(summary_email(summary)) is False
    assert (len(mailer.tries), waits) == (4, [2.0, 8.0, 30.0])
    assert drain_outbox(services) == 1
    assert failure_notes(slack_api) == [
        f"Email to {', '.join(ADMINS)} failed: SES refused it: Maximum sending rate exceeded. "
        "(TooManyRequestsException)"]
    mailer.failures = 0
    assert copies.deliver(summary_email(summary)) is True  # the claim was given back: the job's retry sends it
    assert copies.deliver(summary_email(summary)) is False  # and only once


# -- on Lambda: a second invocation sends it -----------------------------------------------------------------


def test_on_lambda_the_email_goes_out_in_the_invocation_the_payment_rang_for(make_settings, slack_api, moto_endpoint):
    sender = new_sender(moto_endpoint)
    settings = make_settings(OPSBOT_STORE=f"dynamodb://opsbot-{uuid.uuid4().hex[:10]}",
                             AWS_LAMBDA_FUNCTION_NAME="opsbot-opsbot", **email_env(moto_endpoint, sender))
    lambda_api = FakeLambda()
    bot = build_lambda_bot(settings, lambda_client=lambda_api)
    bot.services.store.init_schema()
    handle(bot, slack_event(slash_command_body("/log-payment", "jada 500 venmo Ana Ruiz")), CONTEXT)
    assert sent_from(sender) == []  # nothing left the request
    [invocation] = lambda_api.invocations
    assert (invocation["function"], invocation["type"]) == ("opsbot-opsbot", "Event")
    assert invocation["event"]["opsbot_job"] == "deliver"
    assert [e["target"] for e in invocation["event"]["entries"]] == ["audit", "email"]  # what the payment announced
    assert handle(bot, invocation["event"], CONTEXT) == {"job": "deliver", "settled": 2}  # the line and the email
    assert handle(bot, invocation["event"], CONTEXT) == {"job": "deliver", "settled": 0}  # Lambda retried it
    assert [s.subject for s in sent_from(sender)] == ["Payment logged: $500.00 from Ana Ruiz for JADA Charter"]
    assert len(slack_api.calls("chat.postMessage")) == 1


def test_lambda_with_email_needs_its_function_name(make_settings, moto_endpoint):
    settings = make_settings(**email_env(moto_endpoint, "ops@example.com"))
    with pytest.raises(ValueError, match="AWS_LAMBDA_FUNCTION_NAME is not set"):
        build_lambda_bot(replace(settings, lambda_function_name=None), lambda_client=FakeLambda())


# -- doctor and the CLI ----------------------------------------------------------------------------------


def test_doctor_reports_email_off_verified_or_not(tmp_path, moto_endpoint):
    aws = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_ENDPOINT_URL": moto_endpoint,
           "AWS_REGION": REGION}
    _, lines, _ = doctor(base_env(tmp_path), tmp_path)
    assert ("– email off: set OPSBOT_EMAIL_FROM and OPSBOT_EMAIL_TO to email admins a copy of each payment, void "
            "and daily summary") in lines

    verified = new_sender(moto_endpoint)
    status, lines, output = doctor(base_env(tmp_path, SES_SENDER_EMAIL=verified, OPSBOT_EMAIL_TO="a@example.com",
                                            **aws), tmp_path)
    assert f"✓ OPSBOT_EMAIL_FROM (read from the old name SES_SENDER_EMAIL) {verified}" in lines
    assert "✓ OPSBOT_EMAIL_TO 1 recipient: a@example.com" in lines
    assert f"✓ SES sender {verified} in {REGION}: verified for sending" in lines

    stranger = new_sender(moto_endpoint, verified=False)
    status, lines, output = doctor(base_env(tmp_path, OPSBOT_EMAIL_FROM=stranger, OPSBOT_EMAIL_TO="a@example.com",
                                            **aws), tmp_path)
    assert status == 1
    assert (f"✗ SES sender neither {stranger} nor example.com is an SES identity in {REGION}") in lines
    assert (f"→ verify it: aws sesv2 create-email-identity --email-identity {stranger} (then open the link SES "
            "emails to it), or verify its domain") in lines


def test_opsbot_summary_email_sends_it_now(tmp_path, moto_endpoint):
    sender = new_sender(moto_endpoint)
    env = base_env(tmp_path, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                   **email_env(moto_endpoint, sender))
    assert run(env, "init-store", cwd=tmp_path).returncode == 0
    result = run(env, "summary", "--date", "2026-11-21", "--email", cwd=tmp_path)
    assert (result.returncode, result.stdout) == (
        0, f"Emailed the summary for 2026-11-21 to {', '.join(ADMINS)}.\n")
    assert [s.subject for s in sent_from(sender)] == ["Payments for Sat Nov 21, 2026: no payments."]
    off = run(base_env(tmp_path), "summary", "--email", cwd=tmp_path)
    assert (off.returncode, off.stderr.strip()) == (
        1, "opsbot: email is off: set OPSBOT_EMAIL_FROM and OPSBOT_EMAIL_TO")
