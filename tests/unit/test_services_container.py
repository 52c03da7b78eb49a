"""The services container (bot/container.py) is complete when built and never changed after; a service
that is off is a null object that says so (no STRIPE_API_KEY: Paylinks answers with a dry run and
refuses to reach Stripe; no email settings: NoEmail)."""

from __future__ import annotations

import dataclasses

import pytest

from blocks.deploy import refusal_text
from bot.bootstrap import build_services
from bot.core.deploy import DeployError, DeployRequest
from bot.core.email_copies import NoEmail
from bot.core.paylinks import PaylinkPlan
from bot.core.ports import MailError, NoMailer, NoSlack, NotifyError, PaymentsError, mail_on, slack_on


def test_the_container_cannot_be_changed_after_it_is_built(services):
    with pytest.raises(dataclasses.FrozenInstanceError):
        services.deploys = None  # type: ignore[misc]
    assert all(getattr(services, f.name) is not None for f in dataclasses.fields(services)
               if f.name not in ("notifier", "slack_client"))


def test_without_stripe_paylinks_say_they_are_off_and_reach_nothing(services):
    paylinks = services.paylinks
    assert not paylinks.configured
    plan = PaylinkPlan(amount_cents=25_000, description="", event=None, product_name="Payment — $250.00",
                       metadata={}, created_by="U0ADMIN0001", request_key="T1")
    with pytest.raises(PaymentsError) as refused:
        paylinks.create(plan)
    assert str(refused.value) == "Stripe could not create the product: Stripe is not configured (set STRIPE_API_KEY)"
    assert paylinks.made_by("T1") is None  # nothing was kept


def test_without_email_settings_email_is_a_null_object_that_says_so(services):
    assert isinstance(services.email, NoEmail) and not services.email.on
    assert services.email.deliver(object()) is False  # type: ignore[arg-type]
    with pytest.raises(MailError, match="email is off: set OPSBOT_EMAIL_FROM and OPSBOT_EMAIL_TO"):
        services.email.send_now(object())  # type: ignore[arg-type]
    assert isinstance(services.mailer, NoMailer) and not mail_on(services.mailer)
    with pytest.raises(MailError, match=r"email is off in this process \(OPSBOT_EMAIL_FROM and OPSBOT_EMAIL_TO"):
        services.mailer.send("ops@example.com", ["U0ADMIN0001@example.com"], object())  # type: ignore[arg-type]


def test_without_slack_the_notifier_is_a_null_object_that_says_so(make_settings):
    services = build_services(make_settings(SLACK_BOT_TOKEN=None, SLACK_SIGNING_SECRET=None))
    assert isinstance(services.notifier, NoSlack) and not slack_on(services.notifier)
    with pytest.raises(NotifyError, match=r"Slack is not configured in this process \(SLACK_BOT_TOKEN\)"):
        services.notifier.post("C0OPS000001", "hello")
    assert services.announcer.targets.audit_channel is None  # nothing is queued for a Slack that is off


def test_without_slack_a_deploy_refuses_to_start_and_says_why(make_settings):
    services = build_services(make_settings(SLACK_BOT_TOKEN=None, SLACK_SIGNING_SECRET=None))
    site = services.catalog.sites[0]
    with pytest.raises(DeployError) as refused:
        services.deploys.start(DeployRequest(site, "staging"), by="U0ADMIN0001", channel="C0OPS000001")
    assert refused.value.reason == "no_slack"
    assert refusal_text(refused.value) == ("Slack is not configured, so a deploy cannot report its progress: "
                                           "set SLACK_BOT_TOKEN.")
