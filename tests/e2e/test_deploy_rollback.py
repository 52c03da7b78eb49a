"""`/deploy SITE history` and `/deploy SITE rollback` on S3 and CloudFront on
moto's server (a versioned bucket), the bot driven the way Slack drives it, on
SQLite and on DynamoDB."""

from __future__ import annotations

import json

import pytest

from tests.conftest import ADMIN_USER
from tests.deploy_sites import SiteOnMoto, aws, site_on_moto, write_files
from tests.deploy_slack import command, confirmed, shown, start
from tests.slack_bot import CREW

URL = "https://gipsykings.queenofsandiego.com"
V1 = {"index.html": "<h1>v1</h1>", "about.html": "<p>about v1</p>", "assets/site.3f9a1c.css": "body{}",
      "old.js": "old()"}


@pytest.fixture
def site(tmp_path, moto_endpoint) -> SiteOnMoto:
    made = site_on_moto(moto_endpoint, tmp_path, V1)
    aws(moto_endpoint, "s3").put_bucket_versioning(Bucket=made.bucket,
                                                   VersioningConfiguration={"Status": "Enabled"})
    return made


def live(site: SiteOnMoto) -> dict[str, tuple]:
    """Every production object: its bytes and the headers a browser gets."""
    return {key: (site.body(key), head["ContentType"], head.get("CacheControl"), head["Metadata"], head["ETag"])
            for key, head in site.objects().items() if not key.startswith("_staging/")}


def to_v2(site: SiteOnMoto) -> None:
    (site.source / "index.html").write_text("<h1>v2</h1>")  # changed
    write_files(site.source, {"new/page.html": "<p>new</p>"})  # added
    (site.source / "old.js").unlink()  # removed


def test_rollback_puts_production_back_byte_for_byte_with_one_invalidation(make_bot, site):
    bot = start(make_bot, site)
    confirmed(bot, "gipsykings production", "Deploy to production")
    v1 = live(site)
    to_v2(site)
    confirmed(bot, "gipsykings production", "Deploy to production")
    v2 = live(site)
    assert sorted(v2) == ["about.html", "assets/site.3f9a1c.css", "index.html", "new/page.html"]
    invalidations = len(site.invalidations())

    preview = confirmed(bot, "gipsykings rollback", "Roll back production")
    v2_deploy, v1_deploy = (r["deploy_id"] for r in bot.services.deploys.history("gipsykings")[1:3])
    sections = [b["text"]["text"] for b in preview.params["blocks"] if b["type"] == "section"]
    assert sections[0].startswith(
        f":warning: *Rollback of production of gipsykings* requested by <@{ADMIN_USER}>: production goes back as "
        f"`{v1_deploy}` (production by <@{ADMIN_USER}>) left it on ")
    assert sections[0].endswith(
        "This will restore *2* files to earlier versions, delete *1*, leave *0* unchanged and invalidate *4* paths "
        f"in `s3://{site.bucket}/` ({URL}).")
    assert [line.split(" · ")[0] for line in sections[1].splitlines()] == [
        "*Restore the earlier version*", "• `index.html`", "• `old.js`"]
    assert sections[2] == "*Delete*\n• `new/page.html`"
    notes = [b["elements"][0]["text"] for b in preview.params["blocks"] if b["type"] == "context"]
    assert f"undoes `{v2_deploy}`" in notes[0]

    assert live(site) == {key: value[:4] + (value[4],) for key, value in v1.items()}  # bytes, headers, ETag
    [rollback_invalidation] = site.invalidations()[invalidations:]
    assert rollback_invalidation["Paths"] == ["/", "/index.html", "/new/page.html", "/old.js"]
    assert shown(bot) == (
        ":white_check_mark: Deployed *gipsykings* to *production (rollback)* in 0.0 s: 2 restored, 1 deleted, "
        f"0 already as they were. Invalidation `{rollback_invalidation['Id']}` (4 paths) completed.\n{URL}/")

    # A rollback is a deploy in the history, and can itself be undone.
    confirmed(bot, "gipsykings rollback", "Roll back production")
    assert live(site).keys() == v2.keys()
    assert {k: v[:4] for k, v in live(site).items()} == {k: v[:4] for k, v in v2.items()}
    history = bot.services.deploys.history("gipsykings")
    assert [(r["target"], r["result"]) for r in history] == [("rollback", "deployed")] * 2 + [
        ("production", "deployed")] * 2
    assert history[0]["restores"] == v2_deploy and history[1]["restores"] == v1_deploy


def test_history_lists_when_who_where_and_what_changed(make_bot, site):
    bot = start(make_bot, site)
    assert command(bot, "gipsykings history").json() == {
        "response_type": "ephemeral", "text": "No deploy of gipsykings by opsbot yet: `/deploy gipsykings staging` "
                                              "is the first step.",
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": (
            "No deploy of *gipsykings* by opsbot yet: `/deploy gipsykings staging` is the first step.")}}]}
    command(bot, "gipsykings staging")
    confirmed(bot, "gipsykings", "Deploy to production")
    to_v2(site)
    confirmed(bot, "gipsykings", "Deploy to production")
    confirmed(bot, "gipsykings rollback", "Roll back production")
    reply = command(bot, "gipsykings history").json()
    lines = reply["blocks"][0]["text"]["text"].splitlines()
    ids = [r["deploy_id"] for r in bot.services.deploys.history("gipsykings")]
    assert lines[0].startswith("*Last deploys of gipsykings* (newest first, times P")
    tail = [line.split(" · ", 1)[1] for line in lines[1:]]  # after the time
    assert tail == [
        f"*rollback* (back to `{ids[2]}`) · :white_check_mark: deployed · <@{ADMIN_USER}> · 3 files changed "
        f"(copied 2, deleted 1) · `{ids[0]}`",
        f"*production* · :white_check_mark: deployed · <@{ADMIN_USER}> · 3 files changed (uploaded 2, deleted 1) · "
        f"`{ids[1]}`",
        f"*production* · :white_check_mark: deployed · <@{ADMIN_USER}> · 4 files changed (uploaded 4) · `{ids[2]}`",
        f"*staging* · :white_check_mark: deployed · <@{ADMIN_USER}> · 4 files changed (uploaded 4) · `{ids[3]}`",
    ]
    assert reply["blocks"][1]["elements"][0]["text"].startswith("`/deploy gipsykings rollback` puts production back")
    # Crew are refused both, by the permission table.
    for word in ("history", "rollback"):
        refused = bot.command("/deploy", f"gipsykings {word}", user=CREW).json()
        assert refused["text"].startswith("Only admins can ")


def test_rollback_explains_itself_and_refuses_without_versioning(make_bot, tmp_path, moto_endpoint):
    site = site_on_moto(moto_endpoint, tmp_path, V1)  # versioning never turned on
    bot = start(make_bot, site)
    confirmed(bot, "gipsykings", "Deploy to production")
    before = live(site)
    command(bot, "gipsykings rollback")
    assert shown(bot) == (
        ":no_entry: Deploy of *gipsykings* to *production (rollback)* refused: versioning is off on the bucket, so "
        "S3 keeps no earlier versions to go back to. Turn it on (S3 console → the bucket → Properties → Bucket "
        "Versioning → Enable); production deploys after that can be rolled back.")
    assert live(site) == before
    # Turned on now: the deploy made before it has no recorded versions, and says so.
    aws(moto_endpoint, "s3").put_bucket_versioning(Bucket=site.bucket, VersioningConfiguration={"Status": "Enabled"})
    command(bot, "gipsykings rollback")
    [first] = [r["deploy_id"] for r in bot.services.deploys.history("gipsykings") if r["target"] == "production"]
    assert shown(bot).endswith(f"`{first}` (production by <@{ADMIN_USER}>) changed production without its earlier "
                               "versions being recorded (versioning was off then, or opsbot did not record them yet), "
                               "so it cannot be rolled back.")


def test_rollback_refuses_when_production_changed_outside_opsbot(make_bot, site):
    bot = start(make_bot, site)
    confirmed(bot, "gipsykings", "Deploy to production")
    to_v2(site)
    confirmed(bot, "gipsykings", "Deploy to production")
    site.put("index.html", b"edited in the console")
    before = live(site)
    command(bot, "gipsykings rollback")
    assert "refused: production changed since" in shown(bot) and "• `index.html`" in shown(bot)
    assert live(site) == before


def test_the_only_deploy_rolls_back_to_what_was_there_before_opsbot(make_bot, site):
    site.put("index.html", b"<h1>hand-made</h1>", content_type="text/html")
    site.put("legacy.html", b"legacy", content_type="text/html")
    bot = start(make_bot, site)
    confirmed(bot, "gipsykings", "Deploy to production")
    preview = confirmed(bot, "gipsykings rollback", "Roll back production")
    assert "production goes back as it was before the first deploy opsbot recorded." in (
        preview.params["blocks"][0]["text"]["text"])
    assert site.listed() == ["index.html", "legacy.html"]
    assert site.body("index.html") == b"<h1>hand-made</h1>"


def test_an_object_from_before_versioning_is_put_back_too(make_bot, tmp_path, moto_endpoint):
    site = site_on_moto(moto_endpoint, tmp_path, V1)
    site.put("index.html", b"<h1>from before versioning</h1>", content_type="text/html")
    aws(moto_endpoint, "s3").put_bucket_versioning(Bucket=site.bucket, VersioningConfiguration={"Status": "Enabled"})
    bot = start(make_bot, site)
    confirmed(bot, "gipsykings", "Deploy to production")
    assert site.body("index.html") == b"<h1>v1</h1>"
    confirmed(bot, "gipsykings rollback", "Roll back production")
    assert site.listed() == ["index.html"] and site.body("index.html") == b"<h1>from before versioning</h1>"


def test_a_production_deploy_that_failed_half_way_can_be_undone(make_bot, site, aws_faults):
    from tests.fakes.aws_faults import rest_xml_error

    bot = start(make_bot, site)
    confirmed(bot, "gipsykings", "Deploy to production")
    v1 = live(site)
    to_v2(site)
    bot.services.deploys.workers = 1  # one upload at a time: the second one fails
    puts = [0]

    def second_put(request) -> bool:
        if request.method == "PUT" and request.path.startswith(f"/{site.bucket}/"):
            puts[0] += 1
            return puts[0] == 2
        return False

    aws_faults.arm(second_put, rest_xml_error(403, "AccessDenied", "Access Denied"), times=1)
    confirmed(bot, "gipsykings", "Deploy to production")
    text = shown(bot)
    assert text.startswith(":x: Deploy of *gipsykings* to *production* failed: uploaded 1 of 2 files, deleted 0 of "
                           "1 object; upload failed: uploading s3://")
    assert text.splitlines()[1:] == [
        "*Production now:* part-way — 1 of 2 files uploaded (the others still hold what they held), none of the "
        "1 object to delete deleted; CloudFront was not told, so it may serve cached copies (pages for a minute, "
        "other files for an hour).",
        "To finish, run `/deploy gipsykings production` and confirm: what is already in place is skipped, and the "
        "paths still owed are invalidated. To undo it, run `/deploy gipsykings rollback` and confirm: production "
        "goes back as the last finished deploy left it."]
    assert "old.js" in site.listed()  # no delete happened
    confirmed(bot, "gipsykings rollback", "Roll back production")
    assert live(site) == v1


def test_a_failed_rollback_is_finished_by_running_it_again(make_bot, site, aws_faults):
    from tests.fakes.aws_faults import rest_xml_error

    bot = start(make_bot, site)
    confirmed(bot, "gipsykings", "Deploy to production")
    v1 = live(site)
    to_v2(site)
    confirmed(bot, "gipsykings", "Deploy to production")
    def copy_of_old_js(request) -> bool:  # restoring the removed file
        return request.method == "PUT" and request.path == f"/{site.bucket}/old.js"

    aws_faults.arm(copy_of_old_js, rest_xml_error(503, "SlowDown", "Please reduce your request rate.",
                                                  kind="Receiver"), times=5)  # the first try and 4 retries
    confirmed(bot, "gipsykings rollback", "Roll back production")
    assert shown(bot).splitlines()[-1] == (
        "To finish, run `/deploy gipsykings rollback` and confirm: it puts back what is still missing. Once "
        "finished, a rollback can itself be rolled back.")
    assert "new/page.html" in site.listed()  # the delete waits for every copy
    aws_faults.disarm()
    confirmed(bot, "gipsykings rollback", "Roll back production")
    assert live(site) == v1
    records = bot.services.deploys.history("gipsykings")
    assert [(r["target"], r["result"]) for r in records[:2]] == [("rollback", "deployed"), ("rollback", "failed")]


def test_each_deploy_records_what_it_wrote_for_a_later_rollback(make_bot, site):
    bot = start(make_bot, site)
    confirmed(bot, "gipsykings", "Deploy to production")
    [record] = bot.services.deploys.history("gipsykings")
    assert (record["versioned"], record["changes"], record["bucket"], record["prefix"]) == (True, 4, site.bucket, "")
    chunks = bot.services.store.list_records("deploy-changes", f"gipsykings#{record['deploy_id']}")
    entries = {key: (before, after, known) for chunk in chunks for key, before, after, known in chunk["entries"]}
    s3 = aws(site.endpoint, "s3")
    assert entries == {key: (None, s3.head_object(Bucket=site.bucket, Key=key)["VersionId"], True)
                       for key in V1}
    assert json.dumps(entries)  # plain JSON in the store
