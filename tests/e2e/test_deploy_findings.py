"""The findings of issue 17, each reproduced against S3 and CloudFront on moto's
server through the real boto3 clients, the bot driven the way Slack drives it.
Each test failed on the code before the fix; the detailed behaviour is in
test_deploy_safety.py and test_deploy_rollback.py."""

from __future__ import annotations

import json
import os

import pytest

from bot.bootstrap import build_services
from bot.core.catalog import EventsFileError
from tests.deploy_sites import SITE_FILES, aws, site_on_moto
from tests.deploy_slack import buttons, command, messages, start

on_sqlite = pytest.mark.parametrize("make_bot", ["sqlite"], indirect=True)  # AWS behaviour, not the store's


def with_sites(site, sites: list[dict]) -> None:
    data = json.loads(site.events_file.read_text())
    data["sites"] = sites
    site.events_file.write_text(json.dumps(data))


def test_a_source_of_dot_is_refused_at_start_up_so_secrets_are_never_published(make_settings, tmp_path,
                                                                               moto_endpoint):
    site = site_on_moto(moto_endpoint, tmp_path, {})
    (tmp_path / ".env").write_text("SLACK_BOT_TOKEN=xoxb-secret\n")
    (tmp_path / "opsbot.db").write_bytes(b"SQLite format 3\x00")
    data = json.loads(site.events_file.read_text())
    with_sites(site, [{**data["sites"][0], "source": "."}])
    with pytest.raises(EventsFileError) as refused:
        build_services(make_settings(**site.env()))
    assert 'sites[0] (gipsykings): field "source"' in str(refused.value)
    assert site.listed() == []


def test_a_source_through_a_symlinked_parent_is_refused_at_start_up(make_settings, tmp_path, moto_endpoint):
    outside = tmp_path / "outside" / "gipsykings"
    outside.mkdir(parents=True)
    (outside / "index.html").write_text("hi")
    (outside.parent / "secret.txt").write_text("not for the web")
    root = tmp_path / "project"
    root.mkdir()
    site = site_on_moto(moto_endpoint, root, {})
    os.rmdir(root / "sites" / "gipsykings")
    os.rmdir(root / "sites")
    os.symlink(outside.parent, root / "sites")
    with pytest.raises(EventsFileError) as refused:
        build_services(make_settings(**site.env()))
    assert 'sites[0] (gipsykings): field "source"' in str(refused.value)


def test_two_sites_on_one_bucket_without_prefixes_are_refused_at_start_up(make_settings, tmp_path, moto_endpoint):
    site = site_on_moto(moto_endpoint, tmp_path, SITE_FILES)
    data = json.loads(site.events_file.read_text())
    other = {**data["sites"][0], "id": "birthday", "source": "sites/birthday"}
    (tmp_path / "sites" / "birthday").mkdir()
    with_sites(site, [data["sites"][0], other])
    with pytest.raises(EventsFileError) as refused:
        build_services(make_settings(**site.env()))
    assert 'sites[1] (birthday): field "prefix"' in str(refused.value)


@on_sqlite
def test_promote_asks_first_and_writes_nothing_until_confirmed(make_bot, tmp_path, moto_endpoint):
    site = site_on_moto(moto_endpoint, tmp_path, {"index.html": "new"})
    for key in ("old.html", "logs/2026-01-01.log", ".well-known/security.txt"):
        site.put(key)
    bot = start(make_bot, site)
    command(bot, "gipsykings staging")
    before = site.listed()
    command(bot, "gipsykings promote")
    assert site.listed() == before
    assert [b["action_id"] for b in buttons(messages(bot)[-1])] == ["deploy_confirm", "deploy_cancel"]


@on_sqlite
def test_a_name_s3_cannot_take_stops_the_deploy_before_any_upload(make_bot, tmp_path, moto_endpoint):
    site = site_on_moto(moto_endpoint, tmp_path, {"a.html": "a", "b.html": "b", "c.html": "c",
                                                  "new\nline.html": "d"})
    site.put("old.html")
    bot = start(make_bot, site)
    command(bot, "gipsykings")
    shown = messages(bot)[-1].params["blocks"][0]["text"]["text"]
    assert shown.startswith(":no_entry: Deploy of *gipsykings* to *production* refused: 1 file name cannot be S3 keys")
    assert buttons(messages(bot)[-1]) == []  # nothing to confirm
    assert site.listed() == ["old.html"] and site.invalidations() == []


@on_sqlite
def test_a_key_longer_than_1024_bytes_stops_the_deploy_before_any_upload(make_bot, tmp_path, moto_endpoint):
    deep = "/".join(["d" * 200] * 5) + "/" + "f" * 100 + ".html"  # 1,105 bytes
    site = site_on_moto(moto_endpoint, tmp_path, {"index.html": "hi", deep: "deep"})
    bot = start(make_bot, site)
    command(bot, "gipsykings staging")
    assert site.listed() == [] and site.invalidations() == []


@on_sqlite
def test_a_preview_of_sixteen_long_escaped_names_stays_within_slack_limits(make_bot, tmp_path, moto_endpoint):
    site = site_on_moto(moto_endpoint, tmp_path, {f"{i:02}" + "&" * 80 + ".html": "x" for i in range(16)})
    bot = start(make_bot, site)
    command(bot, "gipsykings")
    preview = messages(bot)[-1]
    assert [b["action_id"] for b in buttons(preview)] == ["deploy_confirm", "deploy_cancel"]
    assert all(len(b["text"]["text"]) <= 3000 for b in preview.params["blocks"] if b["type"] == "section")


@on_sqlite
def test_a_multipart_object_is_recognised_as_unchanged(make_bot, tmp_path, moto_endpoint):
    big = os.urandom(12 * 1024 * 1024)
    site = site_on_moto(moto_endpoint, tmp_path, {"index.html": "hi", "video.mp4": big})
    bot = start(make_bot, site)
    sites = bot.services.deploys.sites
    sites.multipart_threshold = sites.multipart_chunk = 5 * 1024 * 1024  # S3's smallest part
    command(bot, "gipsykings staging")
    etag = aws(moto_endpoint, "s3").head_object(Bucket=site.bucket, Key="_staging/video.mp4")["ETag"]
    assert etag.strip('"').endswith("-3")  # three parts of 5 MiB or less
    command(bot, "gipsykings staging")
    assert bot.services.deploys.last_deploy("gipsykings")["result"] == "up to date"
    assert site.body("_staging/video.mp4") == big
