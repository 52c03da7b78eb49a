"""Block Kit of /deploy, compared with the dicts Slack receives."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from blocks.deploy import (
    confirmation_message,
    decided_message,
    deploy_audit,
    dry_run_message,
    duration,
    progress_message,
    sites_list,
    size,
)
from bot.core.deploy_plan import DeployRun, LocalFile, Plan
from bot.core.domain import Site

SITE = Site(id="gipsykings", bucket="gk-bucket", distribution_id="E2GK", source=Path("sites/gipsykings"),
            url="https://gipsykings.queenofsandiego.com")
AT = datetime(2026, 5, 20, 17, 0, tzinfo=UTC)


def file(rel: str, size: int = 2150, content_type: str = "text/html; charset=utf-8") -> LocalFile:
    return LocalFile(rel=rel, path=Path(rel), size=size, md5="0" * 32, content_type=content_type,
                     cache_control="public, max-age=60, must-revalidate")


def test_confirmation_snapshot():
    plan = Plan(site=SITE, target="production", uploads=(file("index.html"),), deletes=("old.html",), unchanged=40,
                paths=("/", "/index.html", "/old.html"))
    run = DeployRun(deploy_id="dep_abc", site=SITE, target="production", by="U0ADMIN0001", started_at=AT, plan=plan)
    text, blocks = confirmation_message(run, plan, datetime(2026, 5, 20, 10, 10))
    assert text == "Production deploy of gipsykings: confirm or cancel"
    assert blocks == [
        {"type": "section", "text": {"type": "mrkdwn", "text": (
            ":warning: *Production deploy of gipsykings* requested by <@U0ADMIN0001>: this will upload *1* file, "
            "delete *1*, leave *40* unchanged and invalidate *3* paths in `s3://gk-bucket/` "
            "(https://gipsykings.queenofsandiego.com).")}},
        {"type": "section", "text": {"type": "mrkdwn",
                                     "text": "*Upload*\n• `index.html` · text/html; charset=utf-8 · 2.1 KB"}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "*Delete*\n• `old.html`"}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "*Invalidate*\n`/` `/index.html` `/old.html`"}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": (
            "`dep_abc` · expires at 10:10 (10 minutes) · only admins can confirm · nothing is written until "
            "someone does")}]},
        {"type": "actions", "block_id": "deploy_decision", "elements": [
            {"type": "button", "action_id": "deploy_confirm", "value": "dep_abc", "style": "primary",
             "text": {"type": "plain_text", "text": "Deploy to production", "emoji": True}},
            {"type": "button", "action_id": "deploy_cancel", "value": "dep_abc",
             "text": {"type": "plain_text", "text": "Cancel", "emoji": True}},
        ]},
    ]


def test_long_lists_are_cut_and_counted():
    plan = Plan(site=SITE, target="production", uploads=tuple(file(f"p{i:02}.html", 10) for i in range(20)),
                paths=("/*",))
    run = DeployRun(deploy_id="dep_abc", site=SITE, target="production", by="U0ADMIN0001", started_at=AT)
    _, blocks = confirmation_message(run, plan, datetime(2026, 5, 20, 10, 10))
    upload = blocks[1]["text"]["text"].splitlines()
    assert len(upload) == 17 and upload[-1] == "… and 5 more"
    assert upload[1] == "• `p00.html` · text/html; charset=utf-8 · 10 B"


def test_done_progress_snapshot():
    plan = Plan(site=SITE, target="promote", copies=("index.html", "a.css"), deletes=("old.html",), unchanged=3,
                paths=("/", "/a.css", "/index.html", "/old.html"))
    run = DeployRun(deploy_id="dep_abc", site=SITE, target="promote", by="U0ADMIN0001", started_at=AT, plan=plan,
                    phase="done", copied=2, deleted=1, invalidation_id="I2J0", invalidation_completed=True,
                    duration=83.4, requested_by="U0OTHER0001")
    text, blocks = progress_message(run)
    assert text == (":white_check_mark: Deployed gipsykings to production (promoted from staging) in 1 min 23 s: "
                    "2 copied from staging, 1 deleted, 3 unchanged. Invalidation `I2J0` (4 paths) completed.")
    assert blocks == [
        {"type": "section", "text": {"type": "mrkdwn", "text": (
            ":white_check_mark: Deployed *gipsykings* to *production (promoted from staging)* in 1 min 23 s: "
            "2 copied from staging, 1 deleted, 3 unchanged. Invalidation `I2J0` (4 paths) completed.\n"
            "https://gipsykings.queenofsandiego.com/")}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": (
            "`dep_abc` · `s3://gk-bucket/` · distribution `E2GK` · requested by <@U0OTHER0001>")}]},
    ]


def test_failure_says_what_was_done_and_escapes_the_error():
    plan = Plan(site=SITE, target="staging", uploads=tuple(file(f"{i}.html") for i in range(42)), deletes=("x",),
                paths=("/_staging/*",))
    run = DeployRun(deploy_id="dep_abc", site=SITE, target="staging", by="U0ADMIN0001", started_at=AT, plan=plan,
                    phase="failed", uploaded=12, failed_step="uploading",
                    error="uploading s3://gk-bucket/_staging/12.html: SlowDown: <Please reduce your request rate>")
    text, blocks = progress_message(run)
    assert blocks[0]["text"]["text"] == (
        ":x: Deploy of *gipsykings* to *staging* failed: uploaded 12 of 42 files, deleted 0 of 1 object; upload "
        "failed: uploading s3://gk-bucket/_staging/12.html: SlowDown: &lt;Please reduce your request rate&gt;\n"
        "To retry, run `/deploy gipsykings staging`: files already in place are skipped, and the paths still owed "
        "are invalidated.")
    _, audit = deploy_audit(run)
    assert audit[0]["text"]["text"].startswith(
        ":x: <@U0ADMIN0001>'s deploy of *gipsykings* to *staging* failed: uploaded 12 of 42 files, deleted 0 of 1 "
        "object; upload failed: uploading")
    assert audit[1] == {"type": "context", "elements": [{"type": "mrkdwn", "text": (
        "`dep_abc` · `s3://gk-bucket/_staging/` · distribution `E2GK`")}]}


def test_sites_list_and_decisions():
    evil = Site(id="x", bucket="b", distribution_id="E", source=Path("s"), url="https://x.example/<!here>")
    text, blocks = sites_list([SITE, evil])
    assert text == ("Sites you can deploy with `/deploy SITE [staging|production|promote|rollback|history]`:\n"
                    "• `gipsykings` — https://gipsykings.queenofsandiego.com (`s3://gk-bucket`)\n"
                    "• `x` — https://x.example/&lt;!here&gt; (`s3://b`)")
    assert blocks[1] == {"type": "context", "elements": [{"type": "mrkdwn", "text": (
        "`staging` publishes to `_staging/` · `production` (the default) asks for a confirmation first · "
        "`promote` copies what is on staging to production · `rollback` puts production back as the deploy before "
        "the last left it · `history` lists the last deploys")}]}
    assert sites_list([])[0] == "There are no sites in events.json: add one under \"sites\" to deploy it."
    assert decided_message("gipsykings", "dep_abc", "cancelled", "U0ADMIN0001") == (
        ":no_entry_sign: Production deploy of gipsykings cancelled by <@U0ADMIN0001>: nothing was written.",
        [{"type": "section", "text": {"type": "mrkdwn", "text": (
            ":no_entry_sign: Production deploy of *gipsykings* cancelled by <@U0ADMIN0001>: nothing was written.")}},
         {"type": "context", "elements": [{"type": "mrkdwn", "text": "`dep_abc`"}]}])


def test_dry_run_of_a_promote():
    text, blocks = dry_run_message(Plan(site=SITE, target="promote", dry_run=True))
    assert text == "Dry run of /deploy gipsykings promote: nothing was written"
    assert blocks == [
        {"type": "section", "text": {"type": "mrkdwn", "text": (
            ":test_tube: *Dry run* (no AWS credentials): nothing was read from or written to AWS.\n"
            "`/deploy gipsykings promote` would show what it would copy from `s3://gk-bucket/_staging/` to "
            "`s3://gk-bucket/` and delete there (never touching `s3://gk-bucket/_staging/`), and after a "
            "confirmation do it and invalidate the changed paths on distribution `E2GK`. What is staged cannot be "
            "read without credentials.")}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": (
            "Give the bot AWS credentials (environment, profile or role) to deploy for real.")}]},
    ]


def test_units():
    assert [duration(s) for s in (0.04, 59.94, 60, 3725)] == ["0.0 s", "59.9 s", "1 min 00 s", "62 min 05 s"]
    assert [size(n) for n in (0, 1023, 2150, 3 * 1024 * 1024)] == ["0 B", "1023 B", "2.1 KB", "3.0 MB"]


# -- names of any kind, within Block Kit's limits ----------------------------------------------------------


def test_names_show_what_they_hold_escaped_and_cut_between_escapes():
    from blocks.deploy import fit_lines, said, visible

    assert visible("a\nb\tc\x1b\x7f\udcff.html") == "a\\nb\\tc\\x1b\\x7f\\xff.html"
    assert said("<!channel>", 100) == "&lt;!channel&gt;"
    cut = said("&" * 100, 23)
    assert cut == "&amp;" * 4 + "…" and len(cut) <= 23  # never half an entity
    lines = [f"• `{'x' * 100}{i}`" for i in range(40)]
    text = fit_lines("*Upload*", lines, limit=1000, most=40)
    assert len(text) <= 1000 and text.endswith("… and 31 more") and text.count("\n") == 10  # 9 shown


def test_a_rollback_preview_names_what_it_restores_and_undoes():
    from bot.core.deploy_plan import Copy

    plan = Plan(site=SITE, target="rollback", copies=(Copy("index.html", "index.html", 2150, "e", "v1abc"),),
                deletes=("new.html",), unchanged=1, paths=("/", "/index.html", "/new.html"), undoes=("dep_v2",),
                restores={"deploy_id": "dep_v1", "target": "production", "by": "U0ADMIN0001",
                          "at": "2026-05-20T17:00:00+00:00"})
    run = DeployRun(deploy_id="dep_rb", site=SITE, target="rollback", by="U0ADMIN0001", started_at=AT, plan=plan)
    text, blocks = confirmation_message(run, plan, datetime(2026, 5, 20, 10, 10, tzinfo=UTC))
    assert text == "Rollback of production of gipsykings: confirm or cancel"
    assert blocks[0]["text"]["text"] == (
        ":warning: *Rollback of production of gipsykings* requested by <@U0ADMIN0001>: production goes back as "
        "`dep_v1` (production by <@U0ADMIN0001>) left it on May 20 17:00. This will restore *1* file to earlier "
        "versions, delete *1*, leave *1* unchanged and invalidate *3* paths in `s3://gk-bucket/` "
        "(https://gipsykings.queenofsandiego.com).")
    assert blocks[1]["text"]["text"] == "*Restore the earlier version*\n• `index.html` · version `v1abc` · 2.1 KB"
    assert blocks[4]["elements"][0]["text"].endswith(" · undoes `dep_v2`")
    assert [e["text"]["text"] for e in blocks[5]["elements"]] == ["Roll back production", "Cancel"]


def test_history_lines_and_dry_runs_of_a_rollback():
    from zoneinfo import ZoneInfo

    from blocks.deploy import history_message

    records = [{"deploy_id": "dep_3", "target": "rollback", "result": "running", "by": "U0ADMIN0001",
                "at": "2026-05-20T16:00:00+00:00", "copied": 2, "deleted": 1, "restores": "dep_1"},
               {"deploy_id": "dep_2", "target": "production", "result": "failed", "by": "U0ADMIN0001",
                "at": "2026-05-20T15:00:00+00:00", "uploaded": 1}]
    _, blocks = history_message(SITE, records, ZoneInfo("America/Los_Angeles"), AT)
    assert blocks[0]["text"]["text"].splitlines() == [
        "*Last deploys of gipsykings* (newest first, times PDT):",
        "• May 20 09:00 · *rollback* (back to `dep_1`) · :x: interrupted · <@U0ADMIN0001> · 3 files changed "
        "(copied 2, deleted 1) · `dep_3`",
        "• May 20 08:00 · *production* · :x: failed · <@U0ADMIN0001> · 1 file changed (uploaded 1) · `dep_2`"]
    _, blocks = dry_run_message(Plan(site=SITE, target="rollback", dry_run=True))
    assert "`/deploy gipsykings rollback` would show how it would put `s3://gk-bucket/` back" in (
        blocks[0]["text"]["text"])
