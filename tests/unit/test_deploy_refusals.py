"""A refused deploy is a fact (bot/core/deploy_plan.py's DeployError: a reason and what it names);
blocks/deploy.py says it, names escaped for mrkdwn. Each reason's words, as the crew reads them."""

from __future__ import annotations

import pytest

from blocks.deploy import USAGE, refusal_text
from bot.core.access import Access, Refusal
from bot.core.deploy import DeployBusy
from bot.core.deploy_plan import DeployError, UnsafeSource


@pytest.mark.parametrize("error, said", [
    (DeployError("too_many_words"), f"Too many words. {USAGE}"),
    (DeployError("not_a_target", word="<prod>"),
     f"`&lt;prod&gt;` is not a deploy target: use staging, production, promote, rollback or history. {USAGE}"),
    (DeployError("sites_error", error="reading the AWS credentials: <none>"),
     "reading the AWS credentials: &lt;none&gt;. Nothing was deployed."),
    (DeployBusy("busy", site="gipsykings"),
     "A deploy of `gipsykings` is already running; try again when it has finished."),
    (DeployError("no_slack"), "Slack is not configured, so a deploy cannot report its progress: set SLACK_BOT_TOKEN."),
    (DeployError("cannot_post", error="not_in_channel"),
     "I could not post the deploy's progress in this channel (not_in_channel). Invite me with `/invite @opsbot`, "
     "or run /deploy in the ops channel. Nothing was deployed."),
    (DeployError("unknown_request"), "This deploy request is unknown: run `/deploy SITE` again."),
    (DeployError("site_gone", site="old&site"), "The site `old&amp;site` is no longer in events.json."),
    (DeployError("expired", site="gipsykings", target="production"),
     "This deploy request expired: run `/deploy gipsykings` again."),
    (DeployError("expired", site="gipsykings", target="rollback"),
     "This deploy request expired: run `/deploy gipsykings rollback` again."),
    (DeployError("already_decided", decision="confirmed", who="U0ADMIN0001"),
     "This deploy was already confirmed by <@U0ADMIN0001>."),
    (DeployError("being_handled"), "This deploy is already being handled."),
    (DeployError("nothing_staged", site="gipsykings"),
     "Nothing is staged for `gipsykings`: run `/deploy gipsykings staging` first."),
    (UnsafeSource("nothing_to_publish", folder="/srv/sites/empty"),
     "The source folder `/srv/sites/empty` has nothing to publish: a deploy would delete the whole site, so nothing "
     "was deployed."),
    (DeployError("source_not_folder", folder="/srv/sites/a.txt"),
     "The source folder `/srv/sites/a.txt` is not a folder. Check `source` in events.json."),
])
def test_each_refusal_says_why_and_what_to_do(error, said):
    assert refusal_text(error) == said


def test_a_refused_confirmation_names_the_admins_to_ask():
    with pytest.raises(Refusal) as refused:
        Access(frozenset({"U0ADMIN0002", "U0ADMIN0001"})).check("U0CREW00001", "deploy.rollback")
    error = DeployError("not_allowed", refusal=refused.value)
    assert refusal_text(error) == "Only admins can roll sites back. Ask one of: <@U0ADMIN0001>, <@U0ADMIN0002>."
