"""/deploy driven the way Slack drives the bot (signed requests to the running
server, the Slack stand-in), against S3 and CloudFront on moto's server
through the real boto3 clients, on SQLite and on DynamoDB."""

from __future__ import annotations

import hashlib
import os
from datetime import timedelta

import pytest

from infra.local_slack.payloads import block_action
from infra.local_slack.signing import DEFAULT_CHANNEL_ID
from tests.conftest import ADMIN_USER, AUDIT_CHANNEL
from tests.deploy_sites import SITE_FILES, SiteOnMoto, site_on_moto
from tests.slack_bot import CREW, Bot

URL = "https://gipsykings.queenofsandiego.com"
STAGING_PATHS = ["/_staging/", "/_staging/assets/booking.js", "/_staging/assets/site.3f9a1c.css",
                 "/_staging/assets/wave.svg", "/_staging/events.json", "/_staging/fonts/sail.woff2",
                 "/_staging/img/hero.webp", "/_staging/index.html", "/_staging/tickets/",
                 "/_staging/tickets/index.html"]


@pytest.fixture
def site(tmp_path, moto_endpoint) -> SiteOnMoto:
    return site_on_moto(moto_endpoint, tmp_path, SITE_FILES)


def start(make_bot, site: SiteOnMoto, **overrides) -> Bot:
    bot = make_bot(**{**site.env(), **overrides})
    # A still clock for durations (and so no mid-upload updates): the texts are exact.
    bot.services.deploys.timer = lambda: 100.0
    return bot


def deploy(bot: Bot, text: str, *, user: str = ADMIN_USER) -> None:
    reply = bot.command("/deploy", text, user=user)
    assert (reply.status, reply.body) == (200, b"")
    bot.lazies.wait_idle()


def channel_messages(bot: Bot) -> list:
    """Posts and updates in the channel the command came from, in order."""
    return [c for c in bot.slack_api.calls() if c.method in ("chat.postMessage", "chat.update")
            and c.params.get("channel") == DEFAULT_CHANNEL_ID]


def text_of(call) -> str:
    return call.params["blocks"][0]["text"]["text"]


def shown(bot: Bot) -> str:
    """What the deploy's message says now."""
    return text_of(channel_messages(bot)[-1])


def ephemerals(bot: Bot) -> list[str]:
    return [c.params["text"] for c in bot.slack_api.calls("response_url")]


def last_record(bot: Bot, site: SiteOnMoto) -> dict:
    return bot.services.deploys.last_deploy(site.id)


def click(bot: Bot, action: str, deploy_id: str, *, user: str = ADMIN_USER, ts: str) -> None:
    body = block_action(action, deploy_id, user_id=user, channel_id=DEFAULT_CHANNEL_ID, message_ts=ts,
                        response_url=bot.slack_api.response_url("actions/deploy"))
    reply = bot.send(body)
    assert (reply.status, reply.body) == (200, b"")
    bot.lazies.wait_idle()


def preview(bot: Bot, text: str, confirm_label: str = "Deploy to production") -> tuple[str, str, dict]:
    """Run ``/deploy text`` (production, promote, rollback): (deploy id, message ts, the preview call)."""
    before = len(channel_messages(bot))
    deploy(bot, text)
    call = channel_messages(bot)[-1]
    buttons = call.params["blocks"][-1]["elements"]
    assert [(b["action_id"], b["text"]["text"]) for b in buttons] == [
        ("deploy_confirm", confirm_label), ("deploy_cancel", "Cancel")]
    assert buttons[0]["value"] == buttons[1]["value"]
    first = channel_messages(bot)[before]
    ts = first.response["ts"]
    return buttons[0]["value"], ts, call


def md5(data: str | bytes) -> str:
    return hashlib.md5(data.encode() if isinstance(data, str) else data).hexdigest()


# -- asking -------------------------------------------------------------------------------------------------------


def test_deploy_alone_lists_the_sites_and_bad_input_is_explained(make_bot, site):
    bot = start(make_bot, site)
    listing = bot.command("/deploy", "", user=ADMIN_USER).json()
    assert listing["text"] == (
        "Sites you can deploy with `/deploy SITE [staging|production|promote|rollback|history]`:\n"
        f"• `gipsykings` — {URL} (`s3://{site.bucket}`)")
    assert bot.command("/deploy", "nosuch", user=ADMIN_USER).json() == {
        "response_type": "ephemeral", "text": "There is no site `nosuch`. Sites: `gipsykings`."}
    assert bot.command("/deploy", "gipsykings <!channel>", user=ADMIN_USER).json()["text"].startswith(
        "`&lt;!channel&gt;` is not a deploy target: use staging, production, promote, rollback or history. Usage: "
        "`/deploy SITE")
    bot.lazies.wait_idle()
    assert channel_messages(bot) == [] and site.listed() == []


def test_non_admin_is_refused_and_nothing_is_read_or_written(make_bot, site):
    bot = start(make_bot, site)
    reply = bot.command("/deploy", "gipsykings staging", user=CREW)
    assert reply.json() == {"response_type": "ephemeral",
                            "text": f"Only admins can deploy sites. Ask one of: <@{ADMIN_USER}>."}
    bot.lazies.wait_idle()
    assert channel_messages(bot) == [] and site.listed() == [] and site.invalidations() == []


# -- staging ------------------------------------------------------------------------------------------------------


def test_staging_uploads_every_file_with_its_headers_and_invalidates_staging_paths(make_bot, site):
    bot = start(make_bot, site)
    deploy(bot, "gipsykings staging")

    record = last_record(bot, site)
    deploy_id = record["deploy_id"]
    [invalidation] = site.invalidations()
    assert invalidation == {"Id": record["invalidation_id"], "Paths": STAGING_PATHS, "CallerReference": deploy_id}
    messages = channel_messages(bot)
    assert [c.method for c in messages] == ["chat.postMessage", "chat.update", "chat.update", "chat.update"]
    assert [text_of(c) for c in messages] == [
        f":hourglass_flowing_sand: Deploying *gipsykings* to *staging* for <@{ADMIN_USER}>: comparing the files "
        f"with `s3://{site.bucket}/_staging/`…",
        f":hourglass_flowing_sand: Deploying *gipsykings* to *staging* for <@{ADMIN_USER}>: uploading 0/8 files…",
        f":hourglass_flowing_sand: Deploying *gipsykings* to *staging* for <@{ADMIN_USER}>: invalidating 10 paths "
        "on CloudFront…",
        f":white_check_mark: Deployed *gipsykings* to *staging* in 0.0 s: 8 uploaded, 0 deleted, 0 unchanged. "
        f"Invalidation `{invalidation['Id']}` (10 paths) completed.\n{URL}/_staging/",
    ]
    assert {c.params["ts"] for c in messages[1:]} == {messages[0].response["ts"]}
    assert messages[-1].params["blocks"][1]["elements"][0]["text"] == (
        f"`{deploy_id}` · `s3://{site.bucket}/_staging/` · distribution `{site.distribution_id}`")

    objects = site.objects()
    assert sorted(objects) == sorted(f"_staging/{rel}" for rel in SITE_FILES)
    headers = {k: (o["ContentType"], o["CacheControl"]) for k, o in objects.items()}
    assert headers == {
        "_staging/index.html": ("text/html; charset=utf-8", "public, max-age=60, must-revalidate"),
        "_staging/tickets/index.html": ("text/html; charset=utf-8", "public, max-age=60, must-revalidate"),
        "_staging/assets/site.3f9a1c.css": ("text/css; charset=utf-8", "public, max-age=31536000, immutable"),
        "_staging/assets/booking.js": ("text/javascript; charset=utf-8", "public, max-age=3600"),
        "_staging/assets/wave.svg": ("image/svg+xml", "public, max-age=3600"),
        "_staging/img/hero.webp": ("image/webp", "public, max-age=3600"),
        "_staging/fonts/sail.woff2": ("font/woff2", "public, max-age=3600"),
        "_staging/events.json": ("application/json", "public, max-age=3600"),
    }
    assert {k: o["Metadata"]["md5"] for k, o in objects.items()} == {
        f"_staging/{rel}": md5(content) for rel, content in SITE_FILES.items()}
    assert site.body("_staging/index.html") == SITE_FILES["index.html"].encode()

    [audit] = bot.audit_posts()
    assert text_of(audit) == (
        f":rocket: <@{ADMIN_USER}> deployed *gipsykings* to *staging*: 8 uploaded, 0 deleted, 0 unchanged; "
        f"invalidation `{invalidation['Id']}` (0.0 s)")
    assert {k: record[k] for k in ("site", "target", "by", "result", "uploaded", "deleted", "unchanged",
                                   "invalidated_paths")} == {
        "site": "gipsykings", "target": "staging", "by": ADMIN_USER, "result": "deployed", "uploaded": 8,
        "deleted": 0, "unchanged": 0, "invalidated_paths": 10}


def test_unchanged_redeploy_uploads_nothing_and_one_change_invalidates_one_path(make_bot, site):
    bot = start(make_bot, site)
    deploy(bot, "gipsykings staging")
    before = {k: o["LastModified"] for k, o in site.objects().items()}

    deploy(bot, "gipsykings staging")
    assert shown(bot) == (":white_check_mark: *gipsykings* on *staging* is already up to date (8 files unchanged): "
                          f"nothing uploaded, no invalidation.\n{URL}/_staging/")
    assert len(site.invalidations()) == 1
    assert {k: o["LastModified"] for k, o in site.objects().items()} == before
    assert last_record(bot, site)["result"] == "up to date"

    (site.source / "assets" / "booking.js").write_text("console.log('booked')")
    deploy(bot, "gipsykings staging")
    first, second = site.invalidations()
    assert second["Paths"] == ["/_staging/assets/booking.js"]
    assert shown(bot) == (
        ":white_check_mark: Deployed *gipsykings* to *staging* in 0.0 s: 1 uploaded, 0 deleted, 7 unchanged. "
        f"Invalidation `{second['Id']}` (1 path) completed.\n{URL}/_staging/")
    assert site.body("_staging/assets/booking.js") == b"console.log('booked')"

    (site.source / "tickets" / "index.html").write_text("<!doctype html><title>Sold out</title>")
    deploy(bot, "gipsykings staging")
    assert site.invalidations()[-1]["Paths"] == ["/_staging/tickets/", "/_staging/tickets/index.html"]
    audits = [text_of(c) for c in bot.audit_posts()]
    assert audits[1] == f":rocket: <@{ADMIN_USER}> deployed *gipsykings* to *staging*: already up to date (8 unchanged)"
    assert len(audits) == 4


def test_deletions_stay_within_the_deployed_prefix(make_bot, site):
    site.put("_staging/old.html")
    site.put("gone.html")
    bot = start(make_bot, site)
    deploy(bot, "gipsykings staging")
    assert "_staging/old.html" not in site.listed() and "gone.html" in site.listed()
    assert "/_staging/old.html" in site.invalidations()[-1]["Paths"]

    deploy_id, ts, _ = preview(bot, "gipsykings production")
    click(bot, "deploy_confirm", deploy_id, ts=ts)
    keys = site.listed()
    assert "gone.html" not in keys
    assert sorted(k for k in keys if k.startswith("_staging/")) == sorted(f"_staging/{rel}" for rel in SITE_FILES)
    assert sorted(k for k in keys if not k.startswith("_staging/")) == sorted(SITE_FILES)
    # 8 files, 2 folders and the deleted page: 11 paths, each named (under the wildcard limit of 15).
    assert site.invalidations()[-1]["Paths"] == sorted([p.replace("/_staging", "") for p in STAGING_PATHS]
                                                       + ["/gone.html"])


# -- production -------------------------------------------------------------------------------------------------


def test_production_shows_the_changes_and_writes_only_once_confirmed(make_bot, site):
    site.put("gone.html")
    bot = start(make_bot, site)
    deploy_id, ts, call = preview(bot, "gipsykings")
    assert text_of(call) == (
        f":warning: *Production deploy of gipsykings* requested by <@{ADMIN_USER}>: this will upload *8* files, "
        f"delete *1*, leave *0* unchanged and invalidate *11* paths in `s3://{site.bucket}/` ({URL}).")
    sections = [b["text"]["text"] for b in call.params["blocks"] if b["type"] == "section"]
    assert sections[1].splitlines()[:2] == ["*Upload*", "• `assets/booking.js` · text/javascript; charset=utf-8 · 19 B"]
    assert sections[2] == "*Delete*\n• `gone.html`"
    assert site.listed() == ["gone.html"] and site.invalidations() == []
    pending = bot.services.store.get_record("pending-deploy", "", deploy_id)
    assert (pending["site"], pending["requested_by"], pending["uploads"], pending["deletes"]) == (
        "gipsykings", ADMIN_USER, 8, 1)

    click(bot, "deploy_confirm", deploy_id, ts=ts)
    assert site.listed() == sorted(SITE_FILES)
    [invalidation] = site.invalidations()
    assert invalidation["CallerReference"] == deploy_id
    assert "/" in invalidation["Paths"] and "/gone.html" in invalidation["Paths"]
    assert shown(bot) == (
        ":white_check_mark: Deployed *gipsykings* to *production* in 0.0 s: 8 uploaded, 1 deleted, 0 unchanged. "
        f"Invalidation `{invalidation['Id']}` (11 paths) completed.\n{URL}/")
    assert {c.params["ts"] for c in channel_messages(bot)[1:]} == {ts}

    click(bot, "deploy_confirm", deploy_id, ts=ts)
    assert ephemerals(bot) == [f"This deploy was already confirmed by <@{ADMIN_USER}>."]
    assert len(site.invalidations()) == 1


def test_cancel_writes_nothing_and_a_later_confirm_is_refused(make_bot, site):
    bot = start(make_bot, site)
    deploy_id, ts, _ = preview(bot, "gipsykings production")
    click(bot, "deploy_cancel", deploy_id, ts=ts)
    assert shown(bot) == (f":no_entry_sign: Production deploy of *gipsykings* cancelled by <@{ADMIN_USER}>: "
                          "nothing was written.")
    assert channel_messages(bot)[-1].params["ts"] == ts
    click(bot, "deploy_confirm", deploy_id, ts=ts)
    assert ephemerals(bot) == [f"This deploy was already cancelled by <@{ADMIN_USER}>."]
    assert site.listed() == [] and site.invalidations() == []
    assert bot.audit_posts() == []


def test_a_preview_expires_after_ten_minutes(make_bot, site):
    bot = start(make_bot, site)
    deploy_id, ts, _ = preview(bot, "gipsykings")
    created = bot.services.deploys.clock()
    bot.services.deploys.clock = lambda: created + timedelta(minutes=10, seconds=5)
    click(bot, "deploy_confirm", deploy_id, ts=ts)
    assert shown(bot) == (":hourglass: This production deploy of *gipsykings* expired after 10 minutes without a "
                          "confirmation: nothing was written. Run `/deploy gipsykings` again to see what would "
                          "change now.")
    click(bot, "deploy_confirm", deploy_id, ts=ts)
    assert ephemerals(bot) == ["This deploy request expired: run `/deploy gipsykings` again."]
    assert site.listed() == [] and site.invalidations() == []


def test_a_forged_confirm_by_a_non_admin_is_refused(make_bot, site):
    bot = start(make_bot, site)
    deploy_id, ts, _ = preview(bot, "gipsykings")
    click(bot, "deploy_confirm", deploy_id, user=CREW, ts=ts)
    click(bot, "deploy_cancel", deploy_id, user=CREW, ts=ts)
    assert ephemerals(bot) == [f"Only admins can deploy sites. Ask one of: <@{ADMIN_USER}>."] * 2
    assert bot.services.store.get_record("pending-deploy", "", deploy_id).get("decision") is None
    assert site.listed() == [] and site.invalidations() == []
    click(bot, "deploy_confirm", deploy_id, ts=ts)  # still pending: the refusal decided nothing
    assert site.listed() == sorted(SITE_FILES)


def test_a_preview_that_no_longer_matches_is_not_deployed(make_bot, site):
    bot = start(make_bot, site)
    deploy_id, ts, _ = preview(bot, "gipsykings")
    (site.source / "index.html").write_text("<!doctype html><title>Changed after the preview</title>")
    click(bot, "deploy_confirm", deploy_id, ts=ts)
    assert shown(bot) == (":warning: The files or the bucket of *gipsykings* changed since this preview, so "
                          "nothing was deployed. Run `/deploy gipsykings` again to see the new changes.")
    assert site.listed() == []


# -- promote ------------------------------------------------------------------------------------------------------


def test_promote_copies_staging_to_the_root_server_side(make_bot, site):
    bot = start(make_bot, site)
    deploy(bot, "gipsykings promote")
    assert shown(bot) == (":no_entry: Deploy of *gipsykings* to *production (promoted from staging)* refused: "
                          "Nothing is staged for `gipsykings`: run `/deploy gipsykings staging` first.")
    deploy(bot, "gipsykings staging")
    site.put("gone.html")
    (site.source / "index.html").write_text("not on staging yet")  # promote ships staging, not the folder

    before = {key: head["ETag"] for key, head in site.objects().items()}
    deploy_id, ts, call = preview(bot, "gipsykings promote", "Promote to production")
    assert text_of(call) == (
        f":warning: *Promote to production of gipsykings* requested by <@{ADMIN_USER}>: this will copy *8* files from "
        f"staging, delete *1*, leave *0* unchanged and invalidate *11* paths in `s3://{site.bucket}/` ({URL}).")
    sections = [b["text"]["text"] for b in call.params["blocks"] if b["type"] == "section"]
    assert sections[1].splitlines()[:2] == ["*Copy from staging*", "• `assets/booking.js` · 19 B"]
    assert sections[2] == "*Delete*\n• `gone.html`"
    assert {key: head["ETag"] for key, head in site.objects().items()} == before  # nothing written yet
    assert site.invalidations()[-1]["Paths"] == STAGING_PATHS

    click(bot, "deploy_confirm", deploy_id, ts=ts)
    objects = site.objects()
    for rel in SITE_FILES:
        staged, live = objects[f"_staging/{rel}"], objects[rel]
        assert (live["ContentType"], live["CacheControl"], live["ETag"], live["Metadata"]) == (
            staged["ContentType"], staged["CacheControl"], staged["ETag"], staged["Metadata"])
    assert "gone.html" not in objects
    assert site.body("index.html") == SITE_FILES["index.html"].encode()
    last = site.invalidations()[-1]
    assert "/" in last["Paths"] and not any(p.startswith("/_staging") for p in last["Paths"])
    assert shown(bot) == (
        ":white_check_mark: Deployed *gipsykings* to *production (promoted from staging)* in 0.0 s: 8 copied from "
        f"staging, 1 deleted, 0 unchanged. Invalidation `{last['Id']}` (11 paths) completed.\n{URL}/")

    deploy(bot, "gipsykings promote")
    assert shown(bot).startswith(":white_check_mark: *gipsykings* on *production (promoted from staging)* is already "
                                 "up to date (8 files unchanged)")


# -- refusals and failures --------------------------------------------------------------------------------------


def test_a_symlink_out_of_the_source_folder_is_refused(make_bot, site, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("aws_secret_access_key=...")
    os.symlink(secret, site.source / "assets" / "secret.txt")
    bot = start(make_bot, site)
    deploy(bot, "gipsykings staging")
    assert shown(bot) == (
        ":no_entry: Deploy of *gipsykings* to *staging* refused: `assets/secret.txt` in "
        f"`{site.source}` is a symbolic link (to a path outside the source folder): deploys never follow links; "
        "put the real file there. Nothing was deployed.")
    assert site.listed() == [] and site.invalidations() == []
    assert last_record(bot, site)["result"] == "refused"


def test_without_credentials_a_deploy_is_a_dry_run(make_bot, site, monkeypatch, tmp_path):
    bot = start(make_bot, site)  # the store's client has its credentials already
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    deploy(bot, "gipsykings staging")
    [message] = channel_messages(bot)
    sections = [b["text"]["text"] for b in message.params["blocks"] if b["type"] == "section"]
    assert sections[0] == (
        ":test_tube: *Dry run* (no AWS credentials): nothing was read from or written to AWS.\n"
        f"`/deploy gipsykings staging` would upload *8* files to `s3://{site.bucket}/_staging/` and invalidate "
        f"10 paths on distribution `{site.distribution_id}`. Objects that are no longer in the source would be "
        "deleted from there; which ones cannot be known without reading the bucket.")
    assert sections[1].splitlines()[1] == "• `assets/booking.js` · text/javascript; charset=utf-8 · 19 B"
    assert sections[2] == "*Invalidate*\n" + " ".join(f"`{p}`" for p in STAGING_PATHS)
    assert message.params["text"] == "Dry run of /deploy gipsykings staging: nothing was written"
    monkeypatch.undo()
    assert site.listed() == [] and site.invalidations() == []


def test_one_deploy_per_site_at_a_time(make_bot, site):
    bot = start(make_bot, site)
    store, now = bot.services.store, bot.services.deploys.clock()
    assert store.claim("deploy-lock:gipsykings", holder="dep_other", now=now, lease=timedelta(minutes=15))
    deploy(bot, "gipsykings staging")
    assert ephemerals(bot) == ["A deploy of `gipsykings` is already running; try again when it has finished."]
    assert channel_messages(bot) == [] and site.listed() == []
    store.release_claim("deploy-lock:gipsykings", holder="dep_other")
    deploy(bot, "gipsykings staging")
    assert len(site.listed()) == 8
    deploy(bot, "gipsykings staging")  # the lock was given back after each deploy
    assert shown(bot).startswith(":white_check_mark: *gipsykings* on *staging* is already up to date")


def test_a_failing_step_says_what_happened_and_how_to_retry(make_bot, tmp_path, moto_endpoint):
    site = site_on_moto(moto_endpoint, tmp_path, {"index.html": "hi", "a.css": "b{}"}, distribution="E0NOSUCHDIST0")
    bot = start(make_bot, site)
    deploy(bot, "gipsykings staging")
    assert shown(bot) == (
        ":x: Deploy of *gipsykings* to *staging* failed: uploaded 2 of 2 files; invalidation failed: creating the "
        "invalidation on E0NOSUCHDIST0: NoSuchDistribution: The specified distribution does not exist.\n"
        "To retry, run `/deploy gipsykings staging`: files already in place are skipped, and the paths still owed "
        "are invalidated.")
    assert site.listed() == ["_staging/a.css", "_staging/index.html"]
    [audit] = bot.audit_posts()
    assert text_of(audit).startswith(f":x: <@{ADMIN_USER}>'s deploy of *gipsykings* to *staging* failed: uploaded 2 "
                                     "of 2 files; invalidation failed:")
    assert audit.params["channel"] == AUDIT_CHANNEL
    assert last_record(bot, site)["failed_step"] == "invalidating"


def test_every_deploy_is_kept_in_the_audit_log(make_bot, site):
    bot = start(make_bot, site)
    deploy(bot, "gipsykings staging")
    [entry] = [e for e in bot.services.store.day_audit(bot.services.ledger.today().isoformat())
               if e.action == "deploy.run"]
    assert (entry.actor, entry.result) == (ADMIN_USER, "ok")
    assert {k: entry.detail[k] for k in ("site", "target", "uploaded", "deleted", "failed_step")} == {
        "site": "gipsykings", "target": "staging", "uploaded": len(SITE_FILES), "deleted": 0, "failed_step": None}
