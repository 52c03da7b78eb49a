"""Messages of /deploy: the sites list, the production confirmation, the live
progress message, dry runs and the audit line. Pure builders: (text, blocks)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    ContextBlock,
    SectionBlock,
)

from blocks import fit
from blocks.mrkdwn import escape, shorten
from bot.deploy_plan import STAGING_PREFIX, DeployRun, Plan
from bot.domain import Site

CONFIRM_ACTION = "deploy_confirm"
CANCEL_ACTION = "deploy_cancel"
LIST_LIMIT = 15  # files named per list in a message; the rest are counted
_NAME_LIMIT = 90
_ERROR_SHOWN = 500  # of an error from AWS

_TARGET_LABELS = {"staging": "staging", "production": "production", "promote": "production (promoted from staging)"}
_FAILED_PARTS = {"planning": "reading the bucket", "uploading": "upload", "copying": "copy", "deleting": "delete",
                 "invalidating": "invalidation"}


def _label(target: str) -> str:
    return _TARGET_LABELS[target]


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


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


def _name(rel: str) -> str:
    return f"`{fit.name(rel, _NAME_LIMIT)}`"


def _bucket_where(site: Site, prefix: str) -> str:
    return f"s3://{escape(site.bucket)}/{prefix}"


def _more(items: Sequence[str], limit: int = LIST_LIMIT) -> list[str]:
    lines = list(items[:limit])
    if len(items) > limit:
        lines.append(f"… and {len(items) - limit} more")
    return lines


def _blocks(*parts: object) -> list[dict]:
    return [p.to_dict() for p in parts if p is not None]  # type: ignore[attr-defined]


def _section(text: str) -> SectionBlock:
    return fit.section(text)


def _context(text: str) -> ContextBlock:
    return fit.context(text)


def _plain(mrkdwn: str) -> str:
    """A notification fallback from the first line of a mrkdwn text."""
    return fit.clip(mrkdwn.split("\n", 1)[0].replace("*", ""), fit.FALLBACK_TEXT)


# -- the sites list --------------------------------------------------------------------------------


def sites_list(sites: Sequence[Site]) -> tuple[str, list[dict]]:
    if not sites:
        text = "There are no sites in events.json: add one under \"sites\" to deploy it."
        return text, _blocks(_section(text))
    head = "Sites you can deploy with `/deploy SITE [staging|production|promote]`:"
    lines = [f"• `{escape(s.id)}` — {fit.name(s.url, 200)} (`s3://{fit.name(s.bucket, 100)}`)" for s in sites]
    text = f"{head}\n{fit.joined(lines, fit.SECTION_TEXT - len(head) - 1, more=_more_sites)}"
    return fit.clip(text, fit.FALLBACK_TEXT), _blocks(_section(text), _context(
        "`staging` publishes to `_staging/` · `production` (the default) asks for a confirmation first · "
        "`promote` copies what is on staging to production"))


def _more_sites(hidden: int) -> str:
    return f"…and {fit.plural(hidden, 'more site')} in events.json."


def unknown_site(ref: str, sites: Sequence[Site]) -> str:
    names = ", ".join(f"`{escape(s.id)}`" for s in sites) or "none (add one to events.json)"
    return f"There is no site `{escape(shorten(ref, 40))}`. Sites: {names}."


# -- progress ---------------------------------------------------------------------------------------


def _counts(run: DeployRun) -> str:
    plan = run.plan
    unchanged = plan.unchanged if plan else 0
    if run.target == "promote":
        return f"{run.copied} copied from staging, {run.deleted} deleted, {unchanged} unchanged"
    return f"{run.uploaded} uploaded, {run.deleted} deleted, {unchanged} unchanged"


def already_done(run: DeployRun) -> str:
    """What a failed deploy had already written, e.g. ``uploaded 12 of 42 files, deleted 0 of 3 objects``."""
    plan = run.plan
    if plan is None or (run.uploaded + run.copied + run.deleted == 0 and run.invalidation_id is None):
        return "nothing was written"
    parts = []
    if plan.uploads:
        parts.append(f"uploaded {run.uploaded} of {_plural(len(plan.uploads), 'file')}")
    if plan.copies:
        parts.append(f"copied {run.copied} of {_plural(len(plan.copies), 'file')}")
    if plan.deletes:
        parts.append(f"deleted {run.deleted} of {_plural(len(plan.deletes), 'object')}")
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
                f"({escape(run.invalidation_note)}): CloudFront finishes it on its own.")
    return (f"Invalidation {ident} ({count}) still in progress after {duration(run.waited)}: "
            "CloudFront finishes it on its own.")


def progress_text(run: DeployRun, done_so_far: int = 0) -> str:
    """The progress message's main text for the run's phase."""
    site, label = f"*{escape(run.site.id)}*", f"*{_label(run.target)}*"
    plan = run.plan
    going = f":hourglass_flowing_sand: Deploying {site} to {label} for <@{run.by}>"
    if run.phase == "planning":
        return f"{going}: comparing the files with `{_bucket_where(run.site, run.prefix)}`…"
    if run.phase == "uploading" and plan:
        return f"{going}: uploading {done_so_far}/{_plural(len(plan.uploads), 'file')}…"
    if run.phase == "copying" and plan:
        return f"{going}: copying {done_so_far}/{_plural(len(plan.copies), 'file')} from `{STAGING_PREFIX}`…"
    if run.phase == "deleting" and plan:
        return f"{going}: deleting {_plural(len(plan.deletes), 'object')} no longer in the source…"
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
        return f":no_entry: Deploy of {site} to {label} refused: {run.error}"
    # failed
    part = _FAILED_PARTS.get(run.failed_step or "", "deploy")
    return (f":x: Deploy of {site} to {label} failed: {already_done(run)}; {part} failed: "
            f"{fit.name(run.error or 'unknown error', _ERROR_SHOWN)}\n{retry_hint(run)}")


def retry_hint(run: DeployRun) -> str:
    command = f"/deploy {escape(run.site.id)} {run.target}"
    if run.target == "production":
        return (f"To retry, run `{command}` and confirm again: files already in place are skipped, "
                "and the paths still owed are invalidated.")
    return f"To retry, run `{command}`: files already in place are skipped, and the paths still owed are invalidated."


def _run_context(run: DeployRun) -> str:
    parts = [f"`{escape(run.deploy_id)}`", f"`{_bucket_where(run.site, run.prefix)}`",
             f"distribution `{escape(run.site.distribution_id)}`"]
    if run.requested_by and run.requested_by != run.by:
        parts.append(f"requested by <@{run.requested_by}>")
    return " · ".join(parts)


def progress_message(run: DeployRun, done_so_far: int = 0) -> tuple[str, list[dict]]:
    text = progress_text(run, done_so_far)
    return _plain(text), _blocks(_section(text), _context(_run_context(run)))


# -- the production confirmation ----------------------------------------------------------------


def plan_details(plan: Plan) -> list[str]:
    """Sections naming the files to upload / copy / delete and the paths to invalidate."""
    sections = []
    if plan.uploads:
        lines = [f"• {_name(f.rel)} · {escape(f.content_type)} · {size(f.size)}" for f in plan.uploads]
        sections.append("*Upload*\n" + "\n".join(_more(lines)))
    if plan.copies:
        sections.append("*Copy from staging*\n" + "\n".join(_more([f"• {_name(r)}" for r in plan.copies])))
    if plan.deletes:
        sections.append("*Delete*\n" + "\n".join(_more([f"• {_name(r)}" for r in plan.deletes])))
    if plan.paths:
        sections.append("*Invalidate*\n" + " ".join(_more([_name(p) for p in plan.paths])))
    return sections


def plan_summary(plan: Plan) -> str:
    parts = []
    if plan.uploads:
        parts.append(f"upload *{len(plan.uploads)}* {'file' if len(plan.uploads) == 1 else 'files'}")
    if plan.copies:
        parts.append(f"copy *{len(plan.copies)}* {'file' if len(plan.copies) == 1 else 'files'} from staging")
    if plan.deletes:
        parts.append(f"delete *{len(plan.deletes)}*")
    if not plan.dry_run:
        parts.append(f"leave *{plan.unchanged}* unchanged")
    if plan.paths:
        parts.append(f"invalidate *{len(plan.paths)}* {'path' if len(plan.paths) == 1 else 'paths'}")
    if len(parts) > 1:
        return ", ".join(parts[:-1]) + " and " + parts[-1]
    return parts[0] if parts else "change nothing"


def confirmation_message(run: DeployRun, plan: Plan, expires_at: datetime) -> tuple[str, list[dict]]:
    """The preview of a production deploy, with the confirm and cancel buttons
    (their value is the deploy id). ``expires_at`` is in the crew's time zone."""
    site = escape(run.site.id)
    head = (f":warning: *Production deploy of {site}* requested by <@{run.by}>: "
            f"this will {plan_summary(plan)} in `{_bucket_where(run.site, '')}` ({escape(run.site.url)}).")
    blocks = [_section(head), *(_section(s) for s in plan_details(plan)), _context(
        f"`{escape(run.deploy_id)}` · expires at {expires_at:%H:%M} (10 minutes) · "
        "only admins can confirm · nothing is written until someone does"),
        ActionsBlock(block_id="deploy_decision", elements=[
            ButtonElement(text="Deploy to production", action_id=CONFIRM_ACTION, value=run.deploy_id,
                          style="primary"),
            ButtonElement(text="Cancel", action_id=CANCEL_ACTION, value=run.deploy_id),
        ])]
    text = f"Production deploy of {site}: confirm or cancel"
    return text, _blocks(*blocks)


def decided_message(site_id: str, deploy_id: str, decision: str, by: str) -> tuple[str, list[dict]]:
    """What the confirmation becomes when it ends without a deploy."""
    site = escape(site_id)
    again = f"Run `/deploy {site}` again"
    texts = {
        "cancelled": f":no_entry_sign: Production deploy of *{site}* cancelled by <@{by}>: nothing was written.",
        "expired": (f":hourglass: This production deploy of *{site}* expired after 10 minutes without a "
                    f"confirmation: nothing was written. {again} to see what would change now."),
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
    if plan.target == "promote":
        body = (f"`/deploy {name} promote` would copy every object in `{_bucket_where(site, STAGING_PREFIX)}` to "
                f"`{_bucket_where(site, '')}`, delete the objects there that are not staged (never touching "
                f"`{STAGING_PREFIX}`), and invalidate the changed paths on distribution {dist}. What is staged "
                "cannot be read without credentials.")
        sections: list[str] = []
    else:
        confirm = " (after a confirmation)" if plan.target == "production" else ""
        body = (f"`/deploy {name} {plan.target}` would upload *{len(plan.uploads)}* "
                f"{'file' if len(plan.uploads) == 1 else 'files'}{confirm} to `{_bucket_where(site, plan.prefix)}` and "
                f"invalidate {_plural(len(plan.paths), 'path')} on distribution {dist}. Objects that are no longer "
                "in the source would be deleted from there; which ones cannot be known without reading the bucket.")
        sections = plan_details(plan)
    blocks = [_section(f"{head}\n{body}"), *(_section(s) for s in sections),
              _context("Give the bot AWS credentials (environment, profile or role) to deploy for real.")]
    return f"Dry run of /deploy {name} {plan.target}: nothing was written", _blocks(*blocks)


# -- the audit line ------------------------------------------------------------------------------------


def deploy_audit(run: DeployRun) -> tuple[str, list[dict]]:
    site, label = f"*{escape(run.site.id)}*", f"*{_label(run.target)}*"
    if run.phase == "done":
        took = duration(run.duration or 0.0)
        extra = f"; invalidation `{escape(run.invalidation_id)}`" if run.invalidation_id else ""
        head = f":rocket: <@{run.by}> deployed {site} to {label}: {_counts(run)}{extra} ({took})"
    elif run.phase == "up_to_date":
        unchanged = run.plan.unchanged if run.plan else 0
        head = f":rocket: <@{run.by}> deployed {site} to {label}: already up to date ({unchanged} unchanged)"
    elif run.phase == "refused":
        head = f":no_entry: <@{run.by}>'s deploy of {site} to {label} was refused: {run.error}"
    else:
        part = _FAILED_PARTS.get(run.failed_step or "", "deploy")
        head = (f":x: <@{run.by}>'s deploy of {site} to {label} failed: {already_done(run)}; {part} failed: "
                f"{fit.name(run.error or 'unknown error', _ERROR_SHOWN)}")
    return _plain(head), _blocks(_section(head), _context(_run_context(run)))
