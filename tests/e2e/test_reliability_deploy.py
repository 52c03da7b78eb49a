"""CloudFront failing after a deploy's uploads: the message names the step, what
was already written and how to retry; the retry uploads nothing that is
already in place and makes the invalidation the failed run owed. S3 and
CloudFront are moto's server behind the fault layer, reached by the real boto3
clients; the bot is driven the way Slack drives it."""

from __future__ import annotations

import pytest

from infra.local_slack.payloads import block_action
from infra.local_slack.signing import DEFAULT_CHANNEL_ID
from tests.conftest import ADMIN_USER, AUDIT_CHANNEL
from tests.deploy_sites import SITE_FILES, SiteOnMoto, site_on_moto
from tests.fakes.aws_faults import AwsFaults, cloudfront_invalidation, rest_xml_error
from tests.slack_bot import Bot

pytestmark = [pytest.mark.slow,
              pytest.mark.parametrize("make_bot", ["sqlite"], indirect=True)]  # AWS's faults, not the store's

URL = "https://gipsykings.queenofsandiego.com"
PATHS = ["/", "/assets/booking.js", "/assets/site.3f9a1c.css", "/assets/wave.svg", "/events.json",
         "/fonts/sail.woff2", "/img/hero.webp", "/index.html", "/tickets/", "/tickets/index.html"]
STAGING_PATHS = ["/_staging" + p for p in PATHS]
DENIED = ("User: arn:aws:iam::123456789012:user/opsbot is not authorized to perform: cloudfront:CreateInvalidation "
          "on resource: arn:aws:cloudfront::123456789012:distribution/{dist}")


@pytest.fixture
def site(tmp_path, moto_endpoint) -> SiteOnMoto:
    return site_on_moto(moto_endpoint, tmp_path, SITE_FILES)


def start(make_bot, site: SiteOnMoto) -> Bot:
    bot = make_bot(**site.env())
    bot.services.deploys.timer = lambda: 100.0  # a still clock: durations read 0.0 s, the texts are exact
    return bot


def deploy(bot: Bot, text: str) -> None:
    reply = bot.command("/deploy", text, user=ADMIN_USER)
    assert (reply.status, reply.body) == (200, b"")
    bot.lazies.wait_idle()


def channel_messages(bot: Bot) -> list:
    return [c for c in bot.slack_api.calls() if c.method in ("chat.postMessage", "chat.update")
            and c.params.get("channel") == DEFAULT_CHANNEL_ID]


def shown(bot: Bot) -> str:
    """What the deploy's message says now."""
    return channel_messages(bot)[-1].params["blocks"][0]["text"]["text"]


def s3_writes(faults: AwsFaults, site: SiteOnMoto) -> list:
    return faults.requests(lambda r: r.method in ("PUT", "POST", "DELETE") and r.path.startswith(f"/{site.bucket}"))


def test_an_invalidation_denied_after_the_uploads_is_reported_and_the_retry_only_invalidates(make_bot, site,
                                                                                           aws_faults):
    bot = start(make_bot, site)
    denied = aws_faults.arm(cloudfront_invalidation(site.distribution_id),
                            rest_xml_error(403, "AccessDenied", DENIED.format(dist=site.distribution_id)), times=1)
    aws_faults.record()
    deploy(bot, "gipsykings staging")
    assert (denied.fired, len(s3_writes(aws_faults, site))) == (1, 8)  # denied once (not retried), 8 uploads
    failed = (
        ":x: Deploy of *gipsykings* to *staging* failed: uploaded 8 of 8 files; invalidation failed: creating the "
        f"invalidation on {site.distribution_id}: AccessDenied: {DENIED.format(dist=site.distribution_id)}\n"
        "To retry, run `/deploy gipsykings staging`: files already in place are skipped, and the paths still owed "
        "are invalidated.")
    assert shown(bot) == failed
    assert len(site.listed("_staging/")) == 8 and site.invalidations() == []
    [audit] = bot.audit_posts()
    assert audit.params["channel"] == AUDIT_CHANNEL
    assert audit.params["blocks"][0]["text"]["text"].startswith(
        f":x: <@{ADMIN_USER}>'s deploy of *gipsykings* to *staging* failed: uploaded 8 of 8 files; invalidation "
        "failed: creating the invalidation on")

    # The crew fixes the permission and runs the command the message names.
    aws_faults.record()
    deploy(bot, "gipsykings staging")
    assert s3_writes(aws_faults, site) == []  # every file was already in place: nothing uploaded again
    [invalidation] = site.invalidations()
    assert invalidation["Paths"] == STAGING_PATHS  # the paths the failed run owed
    assert shown(bot) == (
        ":white_check_mark: Deployed *gipsykings* to *staging* in 0.0 s: 0 uploaded, 0 deleted, 8 unchanged. "
        f"Invalidation `{invalidation['Id']}` (10 paths) completed.\n{URL}/_staging/")

    # Nothing is owed any more: the next run changes nothing and invalidates nothing.
    deploy(bot, "gipsykings staging")
    assert len(site.invalidations()) == 1
    assert shown(bot) == (":white_check_mark: *gipsykings* on *staging* is already up to date (8 files unchanged): "
                          f"nothing uploaded, no invalidation.\n{URL}/_staging/")


def click(bot: Bot, action: str, deploy_id: str, ts: str) -> None:
    body = block_action(action, deploy_id, user_id=ADMIN_USER, channel_id=DEFAULT_CHANNEL_ID, message_ts=ts,
                        response_url=bot.slack_api.response_url("actions/deploy"))
    reply = bot.send(body)
    assert (reply.status, reply.body) == (200, b"")
    bot.lazies.wait_idle()


def confirm_production(bot: Bot) -> str:
    """``/deploy gipsykings`` and its confirmation; returns the preview's text."""
    before = len(channel_messages(bot))
    deploy(bot, "gipsykings")
    preview = channel_messages(bot)[-1]
    first = channel_messages(bot)[before]
    deploy_id = preview.params["blocks"][-1]["elements"][0]["value"]
    text = preview.params["blocks"][0]["text"]["text"]
    click(bot, "deploy_confirm", deploy_id, first.response["ts"])
    return text


def test_cloudfront_5xx_past_the_client_retries_in_production_is_retried_by_the_crew(make_bot, site, aws_faults):
    bot = start(make_bot, site)
    down = aws_faults.arm(cloudfront_invalidation(site.distribution_id),
                          rest_xml_error(503, "ServiceUnavailable", "CloudFront is unavailable.", kind="Receiver"),
                          times=5)
    aws_faults.record()
    confirm_production(bot)
    assert (down.fired, len(s3_writes(aws_faults, site))) == (5, 8)  # the first try and the client's four retries
    assert shown(bot) == (
        ":x: Deploy of *gipsykings* to *production* failed: uploaded 8 of 8 files; invalidation failed: creating the "
        f"invalidation on {site.distribution_id}: ServiceUnavailable: CloudFront is unavailable.\n"
        "*Production now:* every change is in S3 (8 uploaded, 0 deleted, 0 unchanged), but CloudFront was not told, "
        "so it may serve cached copies (pages for a minute, other files for an hour).\n"
        "To finish, run `/deploy gipsykings production` and confirm: what is already in place is skipped, and the "
        "paths still owed are invalidated. It cannot be undone with `rollback`: versioning is off on the bucket.")
    assert site.invalidations() == []

    aws_faults.record()
    preview = confirm_production(bot)
    assert preview == (
        f":warning: *Production deploy of gipsykings* requested by <@{ADMIN_USER}>: this will leave *8* unchanged "
        f"and invalidate *10* paths in `s3://{site.bucket}/` ({URL}).")
    assert s3_writes(aws_faults, site) == []
    [invalidation] = site.invalidations()
    assert invalidation["Paths"] == PATHS
    assert shown(bot) == (
        ":white_check_mark: Deployed *gipsykings* to *production* in 0.0 s: 0 uploaded, 0 deleted, 8 unchanged. "
        f"Invalidation `{invalidation['Id']}` (10 paths) completed.\n{URL}/")
    assert site.listed("_staging/") == []  # production never touches staging
