"""Messages of /deploy: the sites list, the confirmation of a production deploy,
a promote or a rollback, the live progress message, dry runs, the history and
the audit line. Pure builders: (text, blocks), within Block Kit's limits
whatever the file names (each list is cut to what fits, and counted)."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    ContextBlock,
    SectionBlock,
)

from blocks import fit
from blocks.access import refusal_text as access_refusal_text
from blocks.ids import CANCEL_ACTION, CONFIRM_ACTION
from blocks.mrkdwn import escape, shorten
from bot.core.deploy_plan import (
    STAGING_PREFIX,
    BadName,
    BadNames,
    DeployError,
    DeployRun,
    Plan,
    RollbackRefused,
    area,
)
from bot.core.domain import Site

USAGE = ("Usage: `/deploy SITE [staging|production|promote|rollback|history]` — `staging` publishes to "
         "`_staging/` at once; `production` (the default), `promote` (staging to production) and `rollback` "
         "(production back as the deploy before the last left it) show what they would change and ask for a "
         "confirmation; `history` lists the last deploys. `/deploy` alone lists the sites.")
LIST_LIMIT = 15  # files named per list in a message; the rest are counted
CONTEXT_LIMIT = 2000  # a context line (Slack takes 3,000; kept short to read)
_NAME_LIMIT = 90  # characters of a name as shown (escaped)
_ERROR_SHOWN = 500  # of an error from AWS
_RUNNING_FOR = timedelta(minutes=15)  # a history record still "running" after this was interrupted

_TARGET_LABELS = {"staging": "staging", "production": "production", "promote": "production (promoted from staging)",
                  "rollback": "production (rollback)"}
_FAILED_PARTS = {"planning": "reading the bucket", "uploading": "upload", "copying": "copy", "deleting": "delete",
                 "invalidating": "invalidation"}
_CONFIRM_LABELS = {"production": "Deploy to production", "promote": "Promote to production",
                   "rollback": "Roll back production"}
_WHAT = {"production": "Production deploy", "promote": "Promote to production", "rollback": "Rollback of production"}


def _label(target: str) -> str:
    return _TARGET_LABELS[target]


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n:,} {one if n == 1 else (many or one + 's')}"


def duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes} min {rest:02d} s"


def size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KB"
    return f"{n / (1024 * 1024):.1f} MB"


# -- fitting within Block Kit's limits --------------------------------------------------------------------------


def visible(text: str) -> str:
    """``text`` with control characters and undecodable bytes written out
    (``\\n``, ``\\x1b``, ``\\xff``), so a name shows what it really holds."""
    out = []
    for char in text:
        code = ord(char)
        if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 on disk (kept by Python as a lone surrogate)
            out.append(f"\\x{code - 0xDC00:02x}")
        elif unicodedata.category(char) == "Cc":
            out.append({"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(char, f"\\x{code:02x}" if code < 256
                                                                  else f"\\u{code:04x}"))
        elif unicodedata.category(char) == "Cs":
            out.append(f"\\u{code:04x}")
        else:
            out.append(char)
    return "".join(out)


def said(text: str, limit: int) -> str:
    """``text`` made visible and escaped for mrkdwn, in at most ``limit`` characters."""
    return fit.mrkdwn(visible(text), limit)


def _name(rel: str) -> str:
    return f"`{fit.name(visible(rel), _NAME_LIMIT)}`"


def fit_lines(head: str, lines: Sequence[str], *, limit: int = fit.SECTION_TEXT, most: int = LIST_LIMIT,
              sep: str = "\n", head_sep: str = "\n") -> str:
    """``head`` then as many of ``lines`` as fit in ``limit`` characters (and at
    most ``most``), the rest counted: "… and 12 more"."""
    text, shown = head, 0
    for line in lines[:most]:
        left = len(lines) - shown - 1
        more = f"{sep}… and {left:,} more" if left else ""
        join = head_sep if shown == 0 else sep
        if len(text) + len(join) + len(line) + len(more) > limit:
            break
        text += join + line
        shown += 1
    if shown < len(lines):
        text += f"{head_sep if shown == 0 else sep}… and {len(lines) - shown:,} more"
    return text


def _blocks(*parts: object) -> list[dict]:
    return [p.to_dict() for p in parts if p is not None]  # type: ignore[attr-defined]


def _section(text: str) -> SectionBlock:
    return fit.section(text)


def _context(text: str) -> ContextBlock:
    return fit.context(text)


def _plain(mrkdwn: str) -> str:
    """A notification fallback from the first line of a mrkdwn text."""
    return fit.clip(mrkdwn.split("\n", 1)[0].replace("*", ""), fit.FALLBACK_TEXT)


def _bucket_where(site: Site, prefix: str) -> str:
    return f"s3://{escape(site.bucket)}/{escape(prefix)}"


def _when(at: str | datetime, tz: Any) -> str:
    moment = datetime.fromisoformat(at) if isinstance(at, str) else at
    return f"{moment.astimezone(tz):%b %-d %H:%M}"


# -- the sites list --------------------------------------------------------------------------------


def sites_list(sites: Sequence[Site]) -> tuple[str, list[dict]]:
    if not sites:
        text = "There are no sites in events.json: add one under \"sites\" to deploy it."
        return text, _blocks(_section(text))
    head = "Sites you can deploy with `/deploy SITE [staging|production|promote|rollback|history]`:"
    lines = [f"• `{escape(s.id)}` — {fit.name(s.url, 200)} (`{_bucket_where(s, s.prefix).rstrip('/')}`)"
             for s in sites]
    text = f"{head}\n{fit.joined(lines, fit.SECTION_TEXT - len(head) - 1, more=_more_sites)}"
    return fit.clip(text, fit.FALLBACK_TEXT), _blocks(_section(text), _context(
        "`staging` publishes to `_staging/` · `production` (the default) asks for a confirmation first · "
        "`promote` copies what is on staging to production · `rollback` puts production back as the deploy "
        "before the last left it · `history` lists the last deploys"))


def _more_sites(hidden: int) -> str:
    return f"…and {fit.plural(hidden, 'more site')} in events.json."


def _more_sites(hidden: int) -> str:
    return f"…and {fit.plural(hidden, 'more site')} in events.json."


def quoted(text: str, limit: int | None = None) -> str:
    """A name (site, folder, file, target) as the deploy's messages write it: shortened to ``limit``
    characters when given, escaped for mrkdwn."""
    return escape(text if limit is None else shorten(text, limit))


def unknown_site(ref: str, sites: Sequence[Site]) -> str:
    names = ", ".join(f"`{escape(s.id)}`" for s in sites[:50]) or "none (add one to events.json)"
    return f"There is no site `{said(shorten(ref, 40), 200)}`. Sites: {names}."


# -- refusals ---------------------------------------------------------------------------------------


def _bad_name(name: BadName) -> str:
    problem = {"utf-8": "is not valid UTF-8",
               "control": f"contains a control character (U+{name.detail:04X})",
               "length": f"makes a key of {name.detail:,} bytes (S3 takes at most 1,024)"}[name.problem]
    return f"• {_name(name.rel)} {problem}"


def _deploy_named(record: Mapping[str, Any]) -> str:
    ident = escape(str(record.get("deploy_id", "?")))
    who = f" by <@{escape(str(record['by']))}>" if record.get("by") else ""
    return f"`{ident}` ({escape(str(record.get('target', 'production')))}{who})"


def refusal_text(error: DeployError) -> str:
    """Why a deploy was refused, in mrkdwn."""
    if isinstance(error, BadNames):
        head = (f"{_plural(len(error.names), 'file name')} cannot be S3 keys, so nothing was uploaded. Rename "
                f"{'it' if len(error.names) == 1 else 'them'} and deploy again:")
        return fit_lines(head, [_bad_name(n) for n in error.names], limit=fit.SECTION_TEXT - 300)
    if isinstance(error, RollbackRefused):
        return _rollback_refusal(error)
    facts = error.facts
    if error.reason == "file_refused":
        return f"`{quoted(facts['rel'])}` in `{quoted(facts['folder'])}` {_FILE_PROBLEMS[facts['problem']]}. " \
               "Nothing was deployed."
    if error.reason == "unknown_site":
        return unknown_site(facts["ref"], facts["sites"])
    if error.reason == "not_allowed":
        return access_refusal_text(facts["refusal"])
    if error.reason == "expired":
        again = " ".join(w for w in ("/deploy", quoted(facts["site"]), _again_word(facts["target"])) if w)
        return f"This deploy request expired: run `{again}` again."
    if error.reason == "nothing_staged":
        name = quoted(facts["site"])
        return f"Nothing is staged for `{name}`: run `/deploy {name} staging` first."
    named = {key: quoted(str(value), 40 if key == "word" else None) for key, value in facts.items()}
    return _REFUSALS[error.reason].format(**named)


_REFUSALS = {
    "too_many_words": f"Too many words. {USAGE}",
    "not_a_target": "`{word}` is not a deploy target: use staging, production, promote, rollback or history. " + USAGE,
    "sites_error": "{error}. Nothing was deployed.",
    "busy": "A deploy of `{site}` is already running; try again when it has finished.",
    "no_slack": "Slack is not configured, so a deploy cannot report its progress: set SLACK_BOT_TOKEN.",
    "cannot_post": ("I could not post the deploy's progress in this channel ({error}). Invite me with "
                    "`/invite @opsbot`, or run /deploy in the ops channel. Nothing was deployed."),
    "unknown_request": "This deploy request is unknown: run `/deploy SITE` again.",
    "site_gone": "The site `{site}` is no longer in events.json.",
    "already_decided": "This deploy was already {decision} by <@{who}>.",
    "being_handled": "This deploy is already being handled.",
    "nothing_to_publish": ("The source folder `{folder}` has nothing to publish: a deploy would delete the whole "
                           "site, so nothing was deployed."),
    "source_missing": "The source folder `{folder}` does not exist. Check `source` in events.json.",
    "source_not_folder": "The source folder `{folder}` is not a folder. Check `source` in events.json.",
    "source_linked": ("The source folder `{folder}` is now reached through a symbolic link: deploys never follow "
                      "links. Point `source` in events.json at the real folder and restart opsbot."),
}
_LINK = "is a symbolic link (to a path {} the source folder): deploys never follow links; put the real file there"
_FILE_PROBLEMS = {
    "link_inside": _LINK.format("inside"),
    "link_outside": _LINK.format("outside"),
    "not_regular": "is not a regular file",
    "staging": f"is under `{STAGING_PREFIX}`, which is where staging deploys go: rename the folder",
}


def _again_word(target: str) -> str:
    """The word after ``/deploy SITE`` that asks for ``target`` again ("" for production, the default)."""
    return "" if target == "production" else target


def _rollback_refusal(error: RollbackRefused) -> str:
    deploy = _deploy_named(error.deploy) if error.deploy else "the last deploy"
    keys = [f"• {_name(k)}" for k in error.keys]
    texts = {
        "versioning": ("versioning is " + ("suspended" if error.status == "Suspended" else "off") + " on the bucket, "
                       "so S3 keeps no earlier versions to go back to. Turn it on (S3 console → the bucket → "
                       "Properties → Bucket Versioning → Enable); production deploys after that can be rolled back."),
        "nothing": "no production deploy has changed anything yet, so there is nothing to roll back.",
        "unrecorded": (f"{deploy} changed production without its earlier versions being recorded (versioning was off "
                       "then, or opsbot did not record them yet), so it cannot be rolled back."),
        "too_far": (f"the deploy to go back to is older than the last {_plural(200, 'deploy')} opsbot reads; "
                    "deploy the version you want instead."),
        "moved": (f"{deploy} was made for another bucket or prefix than events.json names now, so rolling it back "
                  "would write outside the site."),
        "changed": fit_lines(f"production changed since {deploy} (outside opsbot?), so nothing was rolled back; "
                             "deploy the version you want instead. Changed:", keys, limit=fit.SECTION_TEXT - 300,
                             most=10),
        "gone": fit_lines("earlier versions of these are no longer in the bucket (a lifecycle rule?), so nothing was "
                          "rolled back:", keys, limit=fit.SECTION_TEXT - 300, most=10),
    }
    return texts[error.reason]


# -- progress ---------------------------------------------------------------------------------------


def _counts(run: DeployRun) -> str:
    plan = run.plan
    unchanged = plan.unchanged if plan else 0
    if run.target == "promote":
        return f"{run.copied:,} copied from staging, {run.deleted:,} deleted, {unchanged:,} unchanged"
    if run.target == "rollback":
        return f"{run.copied:,} restored, {run.deleted:,} deleted, {unchanged:,} already as they were"
    return f"{run.uploaded:,} uploaded, {run.deleted:,} deleted, {unchanged:,} unchanged"


def already_done(run: DeployRun) -> str:
    """What a failed deploy had already written, e.g. ``uploaded 12 of 42 files, deleted 0 of 3 objects``."""
    plan = run.plan
    if plan is None or (run.uploaded + run.copied + run.deleted == 0 and run.invalidation_id is None):
        return "nothing was written"
    parts = []
    if plan.uploads:
        parts.append(f"uploaded {run.uploaded:,} of {_plural(len(plan.uploads), 'file')}")
    if plan.copies:
        verb = "restored" if run.target == "rollback" else "copied"
        parts.append(f"{verb} {run.copied:,} of {_plural(len(plan.copies), 'file')}")
    if plan.deletes:
        parts.append(f"deleted {run.deleted:,} of {_plural(len(plan.deletes), 'object')}")
    if run.invalidation_id:
        parts.append(f"invalidation `{escape(run.invalidation_id)}` created")
    return ", ".join(parts)


def _invalidation(run: DeployRun) -> str:
    plan = run.plan
    count = _plural(len(plan.paths) if plan else 0, "path")
    ident = f"`{escape(run.invalidation_id or '')}`"
    if run.invalidation_completed:
        return f"Invalidation {ident} ({count}) completed."
    if run.invalidation_note:
        return (f"Invalidation {ident} ({count}) created; its status could not be read "
                f"({said(run.invalidation_note, _ERROR_SHOWN)}): CloudFront finishes it on its own.")
    return (f"Invalidation {ident} ({count}) still in progress after {duration(run.waited)}: "
            "CloudFront finishes it on its own.")


def progress_text(run: DeployRun, done_so_far: int = 0) -> str:
    """The progress message's main text for the run's phase."""
    site, label = f"*{escape(run.site.id)}*", f"*{_label(run.target)}*"
    plan = run.plan
    going = f":hourglass_flowing_sand: Deploying {site} to {label} for <@{run.by}>"
    if run.phase == "planning":
        return f"{going}: comparing the files with `{_bucket_where(run.site, run.area)}`…"
    if run.phase == "uploading" and plan:
        return f"{going}: uploading {done_so_far:,}/{_plural(len(plan.uploads), 'file')}…"
    if run.phase == "copying" and plan:
        if run.target == "rollback":
            return f"{going}: restoring {done_so_far:,}/{_plural(len(plan.copies), 'file')} to earlier versions…"
        return (f"{going}: copying {done_so_far:,}/{_plural(len(plan.copies), 'file')} from "
                f"`{escape(area(run.site, 'staging'))}`…")
    if run.phase == "deleting" and plan:
        return f"{going}: deleting {run.deleted:,}/{_plural(len(plan.deletes), 'object')}…"
    if run.phase == "invalidating" and plan:
        return f"{going}: invalidating {_plural(len(plan.paths), 'path')} on CloudFront…"
    url = escape(run.url)
    if run.phase == "up_to_date":
        unchanged = plan.unchanged if plan else 0
        return (f":white_check_mark: {site} on {label} is already up to date "
                f"({_plural(unchanged, 'file')} unchanged): nothing uploaded, no invalidation.\n{url}")
    if run.phase == "done":
        took = duration(run.duration or 0.0)
        line = f":white_check_mark: Deployed {site} to {label} in {took}: {_counts(run)}."
        if run.invalidation_id:
            line += " " + _invalidation(run)
        else:
            line += " No path needed an invalidation."
        return f"{line}\n{url}"
    if run.phase == "refused":
        reason = refusal_text(run.refusal) if run.refusal else (run.error or "")
        return f":no_entry: Deploy of {site} to {label} refused: {reason}"
    # failed
    part = _FAILED_PARTS.get(run.failed_step or "", "deploy")
    head = (f":x: Deploy of {site} to {label} failed: {already_done(run)}; {part} failed: "
            f"{said(run.error or 'unknown error', _ERROR_SHOWN)}")
    if run.writes_production and run.uploaded + run.copied + run.deleted:
        return f"{head}\n{production_state(run)}\n{finish_or_undo(run)}"
    return f"{head}\n{retry_hint(run)}"


def _again(run: DeployRun) -> str:
    return f"/deploy {escape(run.site.id)} {run.target}"


def retry_hint(run: DeployRun) -> str:
    command = f"/deploy {escape(run.site.id)} {run.target}"
    if run.target in ("production", "promote", "rollback"):
        return (f"To retry, run `{command}` and confirm again: files already in place are skipped, "
                "and the paths still owed are invalidated.")
    return f"To retry, run `{command}`: files already in place are skipped, and the paths still owed are invalidated."


def production_state(run: DeployRun) -> str:
    """Where a production deploy that failed part-way left production."""
    plan = run.plan
    assert plan is not None
    cached = "CloudFront was not told, so it may serve cached copies (pages for a minute, other files for an hour)"
    writes, written = len(plan.uploads) + len(plan.copies), run.uploaded + run.copied
    verb = {"promote": "copied from staging", "rollback": "restored to their earlier versions"}.get(
        run.target, "uploaded")
    if run.failed_step in ("uploading", "copying"):
        return (f"*Production now:* part-way — {written:,} of {_plural(writes, 'file')} {verb} (the others still "
                f"hold what they held), none of the {_plural(len(plan.deletes), 'object')} to delete deleted; "
                f"{cached}.")
    if run.failed_step == "deleting":
        return (f"*Production now:* every file {verb} ({written:,}), {run.deleted:,} of "
                f"{_plural(len(plan.deletes), 'object')} no longer in the source deleted; {cached}.")
    return f"*Production now:* every change is in S3 ({_counts(run)}), but {cached}."


def finish_or_undo(run: DeployRun) -> str:
    finish = (f"To finish, run `{_again(run)}` and confirm: "
              + ("it puts back what is still missing." if run.target == "rollback" else
                 "what is already in place is skipped, and the paths still owed are invalidated."))
    if run.target == "rollback":
        return finish + " Once finished, a rollback can itself be rolled back."
    if not run.versioned:
        return finish + " It cannot be undone with `rollback`: versioning is off on the bucket."
    return (f"{finish} To undo it, run `/deploy {escape(run.site.id)} rollback` and confirm: production goes back as "
            "the last finished deploy left it.")


def _run_context(run: DeployRun) -> str:
    parts = [f"`{escape(run.deploy_id)}`", f"`{_bucket_where(run.site, run.area)}`",
             f"distribution `{escape(run.site.distribution_id)}`"]
    if run.requested_by and run.requested_by != run.by:
        parts.append(f"requested by <@{run.requested_by}>")
    return " · ".join(parts)


def progress_message(run: DeployRun, done_so_far: int = 0) -> tuple[str, list[dict]]:
    text = progress_text(run, done_so_far)
    return _plain(text), _blocks(_section(text), _context(_run_context(run)))


# -- the confirmation ---------------------------------------------------------------------------------


def plan_details(plan: Plan) -> list[str]:
    """Sections naming the files to upload / copy / restore / delete and the paths to invalidate."""
    sections = []
    if plan.uploads:
        lines = [f"• {_name(f.rel)} · {escape(f.content_type)} · {size(f.size)}" for f in plan.uploads]
        sections.append(fit_lines("*Upload*", lines))
    if plan.copies:
        if plan.target == "rollback":
            lines = [f"• {_name(c.rel)} · version `{said(c.version_id or '', 40)}` · {size(c.size)}"
                     for c in plan.copies]
            sections.append(fit_lines("*Restore the earlier version*", lines))
        else:
            sections.append(fit_lines("*Copy from staging*", [f"• {_name(c.rel)} · {size(c.size)}"
                                                              for c in plan.copies]))
    if plan.deletes:
        sections.append(fit_lines("*Delete*", [f"• {_name(r)}" for r in plan.deletes]))
    if plan.paths:
        sections.append(fit_lines("*Invalidate*", [_name(p) for p in plan.paths], sep=" "))
    return sections


def plan_summary(plan: Plan) -> str:
    parts = []
    if plan.uploads:
        parts.append(f"upload *{len(plan.uploads):,}* {'file' if len(plan.uploads) == 1 else 'files'}")
    if plan.copies:
        files = "file" if len(plan.copies) == 1 else "files"
        parts.append(f"restore *{len(plan.copies):,}* {files} to earlier versions" if plan.target == "rollback"
                     else f"copy *{len(plan.copies):,}* {files} from staging")
    if plan.deletes:
        parts.append(f"delete *{len(plan.deletes):,}*")
    if not plan.dry_run:
        parts.append(f"leave *{plan.unchanged:,}* unchanged")
    if plan.paths:
        parts.append(f"invalidate *{len(plan.paths):,}* {'path' if len(plan.paths) == 1 else 'paths'}")
    if len(parts) > 1:
        return ", ".join(parts[:-1]) + " and " + parts[-1]
    return parts[0] if parts else "change nothing"


def _hidden_note(plan: Plan) -> str | None:
    if not plan.hidden:
        return None
    return fit_lines("Not published (dotfiles and dotfolders are published only when the site lists them in "
                     "`include` in events.json):", [_name(h) for h in plan.hidden], sep=" ", head_sep=" ",
                     limit=CONTEXT_LIMIT, most=10)


def _restores(plan: Plan, tz: Any) -> str:
    restores = plan.restores
    if not restores:
        return "it was before the first deploy opsbot recorded"
    return f"{_deploy_named(restores)} left it on {_when(str(restores.get('at')), tz)}"


def confirmation_message(run: DeployRun, plan: Plan, expires_at: datetime) -> tuple[str, list[dict]]:
    """The preview of a production deploy, a promote or a rollback, with the
    confirm and cancel buttons (their value is the deploy id). ``expires_at`` is
    in the crew's time zone."""
    site = escape(run.site.id)
    what = _WHAT[run.target]
    where = f"`{_bucket_where(run.site, plan.area)}` ({escape(run.site.url)})"
    head = f":warning: *{what} of {site}* requested by <@{run.by}>: "
    if run.target == "rollback":
        head += f"production goes back as {_restores(plan, expires_at.tzinfo)}. This will "
    else:
        head += "this will "
    head += f"{plan_summary(plan)} in {where}."
    notes = [f"`{escape(run.deploy_id)}` · expires at {expires_at:%H:%M} (10 minutes) · only admins can confirm · "
             "nothing is written until someone does"]
    if plan.undoes:
        notes.append(fit_lines("undoes", [f"`{escape(d)}`" for d in plan.undoes], sep=" ", head_sep=" ", limit=600,
                               most=10))
    blocks = [_section(head), *(_section(s) for s in plan_details(plan)), _context(" · ".join(notes)),
              _context(hidden) if (hidden := _hidden_note(plan)) else None,
              ActionsBlock(block_id="deploy_decision", elements=[
                  ButtonElement(text=_CONFIRM_LABELS[run.target], action_id=CONFIRM_ACTION, value=run.deploy_id,
                                style="primary"),
                  ButtonElement(text="Cancel", action_id=CANCEL_ACTION, value=run.deploy_id),
              ])]
    text = f"{what} of {site}: confirm or cancel"
    return text, _blocks(*blocks)


def decided_message(site_id: str, deploy_id: str, decision: str, by: str,
                    target: str = "production") -> tuple[str, list[dict]]:
    """What the confirmation becomes when it ends without a deploy."""
    site = escape(site_id)
    what = _WHAT[target]
    again = "Run `" + " ".join(["/deploy", site] + ([] if target == "production" else [target])) + "` again"
    texts = {
        "cancelled": f":no_entry_sign: {what} of *{site}* cancelled by <@{by}>: nothing was written.",
        "expired": (f":hourglass: This {what[0].lower() + what[1:]} of *{site}* expired after 10 minutes without "
                    f"a confirmation: nothing was written. {again} to see what would change now."),
        "changed": (f":warning: The files or the bucket of *{site}* changed since this preview, so nothing was "
                    f"deployed. {again} to see the new changes."),
        "busy": (f":warning: Confirmed by <@{by}>, but a deploy of *{site}* was already running, so nothing was "
                 f"written. {again} when it has finished."),
    }
    text = texts[decision]
    return _plain(text), _blocks(_section(text), _context(f"`{escape(deploy_id)}`"))


# -- dry run -----------------------------------------------------------------------------------------


def dry_run_message(plan: Plan) -> tuple[str, list[dict]]:
    site = plan.site
    name = escape(site.id)
    head = ":test_tube: *Dry run* (no AWS credentials): nothing was read from or written to AWS."
    dist = f"`{escape(site.distribution_id)}`"
    production, staging = _bucket_where(site, plan.area), _bucket_where(site, area(site, "staging"))
    sections: list[str] = []
    if plan.target == "promote":
        body = (f"`/deploy {name} promote` would show what it would copy from `{staging}` to `{production}` and "
                f"delete there (never touching `{staging}`), and after a confirmation do it and invalidate the "
                f"changed paths on distribution {dist}. What is staged cannot be read without credentials.")
    elif plan.target == "rollback":
        body = (f"`/deploy {name} rollback` would show how it would put `{production}` back as the finished deploy "
                "before the last one left it (copying back the earlier versions S3 keeps when bucket versioning is "
                f"on, deleting what later deploys added), and after a confirmation do it and invalidate the changed "
                f"paths on distribution {dist}. What was deployed cannot be read without credentials.")
    else:
        confirm = " (after a confirmation)" if plan.target == "production" else ""
        body = (f"`/deploy {name} {plan.target}` would upload *{len(plan.uploads):,}* "
                f"{'file' if len(plan.uploads) == 1 else 'files'}{confirm} to `{production}` and "
                f"invalidate {_plural(len(plan.paths), 'path')} on distribution {dist}. Objects that are no longer "
                "in the source would be deleted from there; which ones cannot be known without reading the bucket.")
        sections = plan_details(plan)
    blocks = [_section(f"{head}\n{body}"), *(_section(s) for s in sections),
              _context(hidden) if (hidden := _hidden_note(plan)) else None,
              _context("Give the bot AWS credentials (environment, profile or role) to deploy for real.")]
    return f"Dry run of /deploy {name} {plan.target}: nothing was written", _blocks(*blocks)


# -- history -------------------------------------------------------------------------------------------


def _history_line(record: Mapping[str, Any], tz: Any, now: datetime) -> str:
    target = str(record.get("target", ""))
    result = str(record.get("result", ""))
    if result == "running" and now - datetime.fromisoformat(str(record.get("at"))) > _RUNNING_FOR:
        result = "interrupted"
    mark = {"deployed": ":white_check_mark:", "up to date": ":white_check_mark:", "failed": ":x:",
            "refused": ":no_entry:", "interrupted": ":x:", "running": ":hourglass_flowing_sand:"}.get(result, "")
    changed = int(record.get("uploaded", 0)) + int(record.get("copied", 0)) + int(record.get("deleted", 0))
    parts = [f"*{escape(target)}*"]
    if target == "rollback":
        restores = str(record.get("restores") or "")
        parts[0] += f" (back to `{escape(restores)}`)" if restores else " (back to before the first deploy)"
    parts += [f"{mark} {escape(result)}".strip(), f"<@{escape(str(record.get('by', '')))}>",
              _plural(changed, "file") + " changed"]
    detail = [f"{k} {int(record.get(k, 0)):,}" for k in ("uploaded", "copied", "deleted") if record.get(k)]
    if detail:
        parts[-1] += f" ({', '.join(detail)})"
    ident = escape(str(record.get("deploy_id")))
    return f"• {_when(str(record.get('at')), tz)} · " + " · ".join(parts) + f" · `{ident}`"


def history_message(site: Site, records: Sequence[Mapping[str, Any]], tz: Any,
                    now: datetime) -> tuple[str, list[dict]]:
    """``/deploy SITE history``: the site's last deploys, newest first."""
    name = escape(site.id)
    if not records:
        text = f"No deploy of *{name}* by opsbot yet: `/deploy {name} staging` is the first step."
        return _plain(text), _blocks(_section(text))
    text = fit_lines(f"*Last deploys of {name}* (newest first, times {now.astimezone(tz):%Z}):",
                     [_history_line(r, tz, now) for r in records], most=len(records))
    return _plain(text), _blocks(_section(text), _context(
        f"`/deploy {name} rollback` puts production back as the finished deploy before the last one left it "
        "(bucket versioning must be on); it asks for a confirmation first, and can itself be rolled back."))


# -- the audit line ------------------------------------------------------------------------------------


def deploy_audit(run: DeployRun) -> tuple[str, list[dict]]:
    site, label = f"*{escape(run.site.id)}*", f"*{_label(run.target)}*"
    if run.phase == "done":
        took = duration(run.duration or 0.0)
        extra = f"; invalidation `{escape(run.invalidation_id)}`" if run.invalidation_id else ""
        head = f":rocket: <@{run.by}> deployed {site} to {label}: {_counts(run)}{extra} ({took})"
    elif run.phase == "up_to_date":
        unchanged = run.plan.unchanged if run.plan else 0
        head = f":rocket: <@{run.by}> deployed {site} to {label}: already up to date ({unchanged:,} unchanged)"
    elif run.phase == "refused":
        reason = refusal_text(run.refusal) if run.refusal else (run.error or "")
        head = f":no_entry: <@{run.by}>'s deploy of {site} to {label} was refused: {reason}"
    else:
        part = _FAILED_PARTS.get(run.failed_step or "", "deploy")
        head = (f":x: <@{run.by}>'s deploy of {site} to {label} failed: {already_done(run)}; {part} failed: "
                f"{said(run.error or 'unknown error', _ERROR_SHOWN)}")
    return _plain(head), _blocks(_section(head), _context(_run_context(run)))
