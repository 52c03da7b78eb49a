"""The Deployer service itself (no Slack request in front of it): what it
posts through the real Slack notifier (the stand-in), and what it does in S3 and
CloudFront on moto's server, including CloudFront being slow and retries after
a failure."""

from __future__ import annotations

import itertools
from dataclasses import replace

import pytest

from blocks.deploy import refusal_text
from bot.bootstrap import build_services
from bot.core.catalog import Catalog
from bot.core.deploy import DeployError, DeployRequest
from bot.core.ports import SitesError
from infra.aws_sites import AwsSites
from infra.local_slack.signing import DEFAULT_CHANNEL_ID
from tests.conftest import ADMIN_USER
from tests.deploy_sites import create_distribution, site_on_moto

FILES = {"index.html": "<h1>hi</h1>", "a.css": "a{}", "b.js": "b()", "c.svg": "<svg/>"}


@pytest.fixture
def site(tmp_path, moto_endpoint):
    return site_on_moto(moto_endpoint, tmp_path, FILES)


@pytest.fixture
def deployer(make_settings, site):
    services = build_services(make_settings(**site.env()))
    services.store.init_schema()
    deployer = services.deploys
    deployer.timer = lambda: 100.0
    return deployer


def messages(slack_api) -> list[str]:
    return [c.params["blocks"][0]["text"]["text"] for c in slack_api.calls()
            if c.method in ("chat.postMessage", "chat.update") and c.params.get("channel") == DEFAULT_CHANNEL_ID]


def run(deployer, target: str = "staging") -> None:
    deployer.start(DeployRequest(deployer.catalog.site("gipsykings"), target), by=ADMIN_USER,
                   channel=DEFAULT_CHANNEL_ID)


class SlowCloudFront(AwsSites):
    """moto finishes invalidations at once; real CloudFront takes minutes."""

    def __init__(self, sites: AwsSites, in_progress: int):
        self.__dict__.update(sites.__dict__)
        self.answers = itertools.chain(["InProgress"] * in_progress, itertools.repeat("COMPLETED"))
        self.polls = 0

    def get_invalidation_status(self, distribution_id: str, invalidation_id: str) -> str:
        super().get_invalidation_status(distribution_id, invalidation_id)  # the real call, for its errors
        self.polls += 1
        return next(self.answers)


def test_invalidation_is_polled_until_completed_with_the_injected_interval(deployer, slack_api, site):
    slow = deployer.sites = SlowCloudFront(deployer.sites, in_progress=2)
    sleeps: list[float] = []
    deployer.sleep, deployer.poll_interval = sleeps.append, 7.0
    run(deployer)
    assert slow.polls == 3 and sleeps == [7.0, 7.0]
    assert messages(slack_api)[-1].endswith("(5 paths) completed.\nhttps://gipsykings.queenofsandiego.com/_staging/")


def test_a_slow_invalidation_is_waited_for_a_bounded_time(deployer, slack_api, site):
    slow = deployer.sites = SlowCloudFront(deployer.sites, in_progress=1000)
    ticks = itertools.count(0, 10)
    deployer.timer = lambda: float(next(ticks))
    deployer.sleep, deployer.poll_interval, deployer.poll_timeout = (lambda s: None), 10.0, 60.0
    run(deployer)
    assert 5 <= slow.polls <= 8
    [invalidation] = site.invalidations()
    assert f"Invalidation `{invalidation['Id']}` (5 paths) still in progress after 1 min" in messages(slack_api)[-1]
    assert "CloudFront finishes it on its own." in messages(slack_api)[-1]
    assert deployer.last_deploy("gipsykings")["result"] == "deployed"


def test_paths_a_failed_deploy_owed_are_invalidated_by_the_retry(deployer, slack_api, site, moto_endpoint):
    real = deployer.catalog.site("gipsykings")
    broken = replace(real, distribution_id="E0NOSUCHDIST0")
    deployer.catalog = Catalog(events=deployer.catalog.events, sites=(broken,))
    run(deployer)
    assert "invalidation failed" in messages(slack_api)[-1]
    assert len(site.listed()) == 4

    # The crew fixes events.json: the retry finds every file in place and still invalidates them.
    deployer.catalog = Catalog(events=deployer.catalog.events, sites=(real,))
    run(deployer)
    [invalidation] = site.invalidations()
    assert invalidation["Paths"] == ["/_staging/", "/_staging/a.css", "/_staging/b.js", "/_staging/c.svg",
                                     "/_staging/index.html"]
    assert messages(slack_api)[-1].startswith(
        ":white_check_mark: Deployed *gipsykings* to *staging* in 0.0 s: 0 uploaded, 0 deleted, 4 unchanged. "
        f"Invalidation `{invalidation['Id']}` (5 paths) completed.")
    run(deployer)  # nothing owed any more
    assert len(site.invalidations()) == 1
    assert "already up to date" in messages(slack_api)[-1]


def test_upload_progress_is_updated_as_files_go_up(deployer, slack_api):
    ticks = itertools.count(0, 1)
    deployer.timer = lambda: float(next(ticks))
    deployer.workers, deployer.progress_interval = 1, 1.0
    run(deployer)
    uploading = [m.rsplit(": ", 1)[1] for m in messages(slack_api) if ": uploading " in m]
    counts = [int(m.split()[1].split("/")[0]) for m in uploading]
    assert uploading[0] == "uploading 0/4 files…"
    assert counts == sorted(set(counts)) and counts[-1] < 4 and len(counts) >= 2


def test_a_channel_the_bot_cannot_post_in_stops_the_deploy_before_any_write(deployer, slack_api, site):
    slack_api.fail_next("chat.postMessage", "not_in_channel")
    with pytest.raises(DeployError) as refused:
        run(deployer)
    assert refusal_text(refused.value) == (
        "I could not post the deploy's progress in this channel (chat.postMessage to C0OPS000001 failed: "
        "not_in_channel). Invite me with `/invite @opsbot`, or run /deploy in the ops channel. Nothing was deployed.")
    assert site.listed() == []
    run(deployer)  # the lock was given back
    assert len(site.listed()) == 4


def test_a_missing_bucket_fails_at_the_listing_with_nothing_written(deployer, slack_api, site, moto_endpoint):
    real = deployer.catalog.site("gipsykings")
    gone = replace(real, bucket="no-such-bucket-opsbot", distribution_id=create_distribution(moto_endpoint, "x"))
    deployer.catalog = Catalog(events=deployer.catalog.events, sites=(gone,))
    run(deployer)
    assert messages(slack_api)[-1] == (
        ":x: Deploy of *gipsykings* to *staging* failed: nothing was written; reading the bucket failed: listing "
        "s3://no-such-bucket-opsbot/_staging/: NoSuchBucket: The specified bucket does not exist\n"
        "To retry, run `/deploy gipsykings staging`: files already in place are skipped, and the paths still owed "
        "are invalidated.")


def test_sites_errors_name_the_step(site, make_settings):
    sites = AwsSites(make_settings(**site.env()))
    with pytest.raises(SitesError) as failed:
        sites.copy(site.bucket, "_staging/missing.html", "missing.html", size=10)
    assert failed.value.step == f"copying s3://{site.bucket}/_staging/missing.html to missing.html"
    assert failed.value.reason.startswith("NoSuchKey")


def test_a_broken_aws_profile_is_named_and_nothing_is_deployed(deployer, site, monkeypatch, tmp_path):
    (tmp_path / "aws-config").write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_PROFILE", "opsbot-no-such-profile")
    with pytest.raises(DeployError) as refused:
        run(deployer)
    assert refusal_text(refused.value) == ("reading the AWS credentials: The config profile (opsbot-no-such-profile) "
                                     "could not be found. Nothing was deployed.")
    monkeypatch.undo()
    assert site.listed() == []


# -- the adapter's listing -------------------------------------------------------------------------------------


def test_listing_for_production_never_reads_under_staging(tmp_path, moto_endpoint, make_settings):
    site = site_on_moto(moto_endpoint, tmp_path, {})
    for key in ("index.html", "a/b/c.css", "_staging/index.html", "_staging/x/y.js", "_stagingish.txt"):
        site.put(key)
    sites = AwsSites(make_settings(**site.env()))
    prefixes: list[str] = []
    sites.s3.meta.events.register("provide-client-params.s3.ListObjectsV2",
                                  lambda params, **kw: prefixes.append(params["Prefix"]))
    listed = sites.list_objects(site.bucket, "", skip_prefixes=("_staging/",))
    assert [o.key for o in listed] == ["_stagingish.txt", "a/b/c.css", "index.html"]
    assert prefixes == ["", "a/"] and all(len(o.etag) == 32 for o in listed)
    assert [o.key for o in sites.list_objects(site.bucket, "_staging/")] == ["_staging/index.html",
                                                                             "_staging/x/y.js"]
