"""Deploys that cannot hurt production (issue 17), on S3 and CloudFront on
moto's server through the real boto3 clients, the bot driven the way Slack
drives it: two sites sharing a bucket, dotfiles, all or nothing, files hashed
once, and every message within Block Kit's limits whatever the names."""

from __future__ import annotations

import json

import pytest

from bot.core.site_files import file_md5
from infra.local_slack.block_kit_limits import message_problems
from tests.conftest import ADMIN_USER
from tests.deploy_sites import SITE_FILES, SiteOnMoto, aws, create_distribution, site_on_moto
from tests.deploy_slack import command, confirmed, messages, press, shown, start
from tests.fakes.aws_faults import rest_xml_error, s3_put

on_sqlite = pytest.mark.parametrize("make_bot", ["sqlite"], indirect=True)  # AWS behaviour, not the store's
URL = "https://gipsykings.queenofsandiego.com"

# -- two sites on one bucket -----------------------------------------------------------------------------------


@pytest.fixture
def shared(tmp_path, moto_endpoint) -> tuple[SiteOnMoto, str]:
    """gipsykings (prefix gipsykings/) and birthday (prefix birthday/, a distribution of its own) on one bucket."""
    site = site_on_moto(moto_endpoint, tmp_path, SITE_FILES)
    other = tmp_path / "sites" / "birthday"
    other.mkdir()
    (other / "index.html").write_text("<h1>birthday</h1>")
    data = json.loads(site.events_file.read_text())
    gipsy = {**data["sites"][0], "prefix": "gipsykings/"}
    birthday_dist = create_distribution(moto_endpoint, site.bucket)
    data["sites"] = [gipsy, {**gipsy, "id": "birthday", "prefix": "birthday", "source": "sites/birthday",
                             "distributionId": birthday_dist, "url": "https://birthday.queenofsandiego.com"}]
    site.events_file.write_text(json.dumps(data))
    return site, birthday_dist


@on_sqlite
def test_a_site_with_a_prefix_writes_and_deletes_only_under_it(make_bot, shared):
    site, birthday_dist = shared
    for key in ("birthday/index.html", "birthday/_staging/index.html", "other-team/file.txt", "index.html"):
        site.put(key)
    bot = start(make_bot, site)
    site.put("gipsykings/stale.html")
    command(bot, "gipsykings staging")
    assert sorted(k for k in site.listed() if k.startswith("gipsykings/_staging/")) == sorted(
        f"gipsykings/_staging/{rel}" for rel in SITE_FILES)
    assert site.invalidations()[-1]["Paths"][:2] == ["/_staging/", "/_staging/assets/booking.js"]  # its origin path

    preview = confirmed(bot, "gipsykings")
    assert "`s3://" + site.bucket + "/gipsykings/`" in preview.params["blocks"][0]["text"]["text"]
    assert "*Delete*\n• `stale.html`" in [b["text"]["text"] for b in preview.params["blocks"] if b["type"] == "section"]
    keys = site.listed()
    assert sorted(k for k in keys if k.startswith("gipsykings/") and "_staging" not in k) == sorted(
        f"gipsykings/{rel}" for rel in SITE_FILES)
    for untouched in ("birthday/index.html", "birthday/_staging/index.html", "other-team/file.txt", "index.html"):
        assert untouched in keys and site.body(untouched) == b"old"
    assert aws(site.endpoint, "cloudfront").list_invalidations(DistributionId=birthday_dist)["InvalidationList"][
        "Quantity"] == 0

    command(bot, "birthday staging")
    assert site.body("birthday/_staging/index.html") == b"<h1>birthday</h1>"
    assert site.body("gipsykings/index.html") == SITE_FILES["index.html"].encode()


# -- dotfiles ---------------------------------------------------------------------------------------------------


@on_sqlite
def test_dotfiles_are_published_only_when_the_site_lists_them(make_bot, tmp_path, moto_endpoint):
    site = site_on_moto(moto_endpoint, tmp_path, {"index.html": "hi", ".env": "SECRET=1", ".git/config": "x",
                                                  ".well-known/security.txt": "Contact: ops@example.com"})
    bot = start(make_bot, site)
    command(bot, "gipsykings")
    preview = messages(bot)[-1]
    notes = [b["elements"][0]["text"] for b in preview.params["blocks"] if b["type"] == "context"]
    assert notes[1] == ("Not published (dotfiles and dotfolders are published only when the site lists them in "
                        "`include` in events.json): `.env` `.well-known/`")
    press(bot, "deploy_cancel", 0)

    data = json.loads(site.events_file.read_text())
    data["sites"][0]["include"] = [".well-known"]
    site.events_file.write_text(json.dumps(data))
    bot = start(make_bot, site)
    command(bot, "gipsykings staging")
    assert site.listed() == ["_staging/.well-known/security.txt", "_staging/index.html"]


# -- all or nothing ---------------------------------------------------------------------------------------------


@on_sqlite
def test_a_failed_upload_deletes_nothing_and_invalidates_nothing(make_bot, tmp_path, moto_endpoint, aws_faults):
    site = site_on_moto(moto_endpoint, tmp_path, {"a.html": "a", "b.html": "b"})
    site.put("_staging/gone.html")
    bot = start(make_bot, site)
    aws_faults.arm(s3_put(site.bucket), rest_xml_error(403, "AccessDenied", "Access Denied"), times=1)
    command(bot, "gipsykings staging")
    assert shown(bot).startswith(":x: Deploy of *gipsykings* to *staging* failed: uploaded 1 of 2 files, deleted 0 "
                                 "of 1 object; upload failed: uploading s3://")
    assert shown(bot).endswith("\nTo retry, run `/deploy gipsykings staging`: files already in place are skipped, and "
                               "the paths still owed are invalidated.")
    assert "_staging/gone.html" in site.listed() and site.invalidations() == []
    command(bot, "gipsykings staging")  # the retry finishes it
    assert site.listed() == ["_staging/a.html", "_staging/b.html"]
    [invalidation] = site.invalidations()
    assert invalidation["Paths"] == ["/_staging/a.html", "/_staging/b.html", "/_staging/gone.html"]


@on_sqlite
def test_a_cancelled_promote_writes_nothing(make_bot, tmp_path, moto_endpoint):
    site = site_on_moto(moto_endpoint, tmp_path, {"index.html": "new"})
    site.put("logs/2026-01-01.log")
    bot = start(make_bot, site)
    command(bot, "gipsykings staging")
    first = len(messages(bot))
    command(bot, "gipsykings promote")
    press(bot, "deploy_cancel", first)
    assert shown(bot) == (f":no_entry_sign: Promote to production of *gipsykings* cancelled by <@{ADMIN_USER}>: "
                          "nothing was written.")
    assert site.listed() == ["_staging/index.html", "logs/2026-01-01.log"]


# -- hashing once, streaming ---------------------------------------------------------------------------------------


@on_sqlite
def test_a_production_deploy_hashes_each_file_once_and_an_unchanged_one_not_at_all(make_bot, tmp_path, moto_endpoint,
                                                                                   aws_faults):
    site = site_on_moto(moto_endpoint, tmp_path, SITE_FILES)
    bot = start(make_bot, site)
    hashed: list[str] = []
    bot.services.deploys.hashes.hasher = lambda path: hashed.append(path.name) or file_md5(path)
    confirmed(bot, "gipsykings")  # the preview and the confirmed deploy
    assert sorted(hashed) == sorted(rel.rsplit("/", 1)[-1] for rel in SITE_FILES)
    aws_faults.record()
    command(bot, "gipsykings")
    assert shown(bot).startswith(":white_check_mark: *gipsykings* on *production* is already up to date")
    assert len(hashed) == len(SITE_FILES)
    assert not aws_faults.requests(lambda r: r.method == "PUT")


@on_sqlite
def test_a_large_file_goes_up_in_parts_and_is_not_sent_again(make_bot, tmp_path, moto_endpoint, aws_faults):
    big = bytes(range(256)) * (48 * 1024)  # 12 MiB
    site = site_on_moto(moto_endpoint, tmp_path, {"index.html": "hi", "media/tour.mp4": big})
    bot = start(make_bot, site)
    sites = bot.services.deploys.sites
    sites.multipart_threshold = sites.multipart_chunk = 5 * 1024 * 1024
    aws_faults.record()
    command(bot, "gipsykings staging")
    key_path = f"/{site.bucket}/_staging/media/tour.mp4"
    parts = aws_faults.requests(lambda r: r.method == "PUT" and r.path == key_path)
    starts_and_ends = aws_faults.requests(lambda r: r.method == "POST" and r.path == key_path)
    head = aws(moto_endpoint, "s3").head_object(Bucket=site.bucket, Key="_staging/media/tour.mp4")
    assert head["ETag"].strip('"').endswith("-3") and head["Metadata"] == {"md5": file_md5(site.source / "media" /
                                                                                                "tour.mp4")}
    assert head["ContentType"] == "video/mp4" and site.body("_staging/media/tour.mp4") == big
    assert (len(parts), len(starts_and_ends)) == (3, 2)  # 3 parts; CreateMultipartUpload, CompleteMultipartUpload
    assert max(len(p.body) for p in parts) == 5 * 1024 * 1024
    aws_faults.record()
    command(bot, "gipsykings staging")
    assert shown(bot).startswith(":white_check_mark: *gipsykings* on *staging* is already up to date (2 files "
                                 "unchanged)")
    assert not aws_faults.requests(lambda r: r.method in ("PUT", "POST"))


# -- Block Kit's limits, whatever the names ---------------------------------------------------------------------

HOSTILE = {**{f"{i:02}" + "&" * 80 + ".html": "x" for i in range(16)},
           **{f"{i:02}" + "<" * 200 + ".css": "y" for i in range(30)},
           "dir/" + "é" * 100 + ".js": "z"}


@on_sqlite
def test_every_deploy_message_stays_within_block_kit_limits_whatever_the_names(make_bot, tmp_path, moto_endpoint,
                                                                               aws_faults):
    site = site_on_moto(moto_endpoint, tmp_path, HOSTILE)
    for i in range(40):
        site.put(f"gone-{i:02}-" + ">" * 200 + ".html")
    bot = start(make_bot, site)
    confirmed(bot, "gipsykings")
    assert shown(bot).startswith(":white_check_mark: Deployed *gipsykings* to *production*")
    command(bot, "gipsykings staging")
    for name in ("new\nline" + "&" * 60 + f"{i}.html" for i in range(30)):
        (site.source / name).write_text("bad")
    command(bot, "gipsykings")
    assert shown(bot).startswith(":no_entry: Deploy of *gipsykings* to *production* refused: 30 file names cannot be "
                                 "S3 keys")
    for name in list(site.source.iterdir()):
        if "\n" in name.name:
            name.unlink()
    (site.source / ("z" + "&" * 200 + ".html")).write_text("changed")
    aws_faults.arm(s3_put(site.bucket), rest_xml_error(403, "AccessDenied", "<Denied> " + "&" * 2000), times=1)
    confirmed(bot, "gipsykings")
    assert shown(bot).startswith(":x: Deploy of *gipsykings* to *production* failed")
    calls = messages(bot) + [c for c in bot.slack_api.calls("chat.postMessage") if c not in messages(bot)]
    assert len(calls) > 10
    for call in calls:  # the stand-in refuses what Slack refuses; each was taken, and fits
        assert call.response["ok"] and message_problems(call.params) == []
        assert len(call.params["text"]) <= 3000
