"""``/opsbot export [EVENT|all] [--from D] [--to D]`` (admins): the ledger as a CSV file,
sent to the person who asked as a direct message from opsbot.

The ack checks what was asked (a usage error or an unknown event is answered at once)
and says the file is coming; reading the records and uploading the file run after the
ack (files_upload_v2: files.getUploadURLExternal, the upload, files.completeUploadExternal).
A retry of the same command (same trigger) sends the file once."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from slack_sdk.errors import SlackApiError, SlackClientError

from blocks.export import csv_text, export_started, export_summary, file_name, nothing_to_export, selection_words
from blocks.failures import problem, store_unavailable
from bot.core.commands import EXPORT_USAGE, UsageError, parse_export
from bot.core.ledger import LedgerError
from bot.core.ports import StoreError

if TYPE_CHECKING:
    from slack_sdk import WebClient

    from bot.container import Services
    from bot.core.records import Selection

log = logging.getLogger("opsbot.export")

# What to do when Slack refuses the file, by its error code.
_SLACK_FIXES = {
    "missing_scope": "the Slack app needs the files:write scope: add it (manifest.json has it) and reinstall the app",
    "not_allowed_token_type": "use the bot token (xoxb-…) in SLACK_BOT_TOKEN",
    "file_uploads_disabled": "file uploads are turned off in this workspace: a workspace admin can turn them on",
}


def _ephemeral(text: str) -> dict[str, Any]:
    return {"response_type": "ephemeral", "text": text}


def _selection(words: list[str], services: Services) -> Selection:
    """Raises UsageError or LedgerError (an unknown event, a range too long)."""
    asked = parse_export(words)
    return services.records.select(event=asked.event, first=asked.first, last=asked.last)


def export_ack(words: list[str], *, services: Services) -> dict[str, Any]:
    """The ack payload for ``/opsbot export <words>``."""
    try:
        selection = _selection(words, services)
    except UsageError as exc:
        return _ephemeral(f"{problem(str(exc))} {EXPORT_USAGE}")
    except LedgerError as exc:
        return _ephemeral(problem(" ".join(exc.errors.values())))
    return _ephemeral(export_started(selection))


def run_export(words: list[str], user: str, trigger: str | None, *, client: WebClient,
               respond: Callable[..., Any], services: Services) -> None:
    """After the ack: build the CSV and send it (once per command, however often Slack delivers it)."""
    try:
        selection = _selection(words, services)
    except (UsageError, LedgerError):
        return  # the ack said what was wrong

    def tell(text: str) -> None:
        respond(text=text, response_type="ephemeral", replace_original=False)

    def deliver() -> None:
        export = services.records.export(selection)
        if not export.rows:
            tell(nothing_to_export(selection))
            return
        try:
            # Posting to a user ID opens the app's direct message with them; Slack answers its channel id
            # (files.completeUploadExternal takes channel ids only).
            posted = client.chat_postMessage(channel=user, text=export_summary(selection, export.tally))
            client.files_upload_v2(channel=posted["channel"], content=csv_text(export.rows).encode("utf-8"),
                                   filename=file_name(selection), title=file_name(selection))
        except SlackApiError as exc:
            code = str(exc.response.get("error") or exc.response.status_code)
            log.error("export of %s not sent: Slack answered %s", selection_words(selection), code)
            fix = _SLACK_FIXES.get(code, "try again in a minute")
            tell(f"The export could not be sent: Slack answered `{problem(code)}` ({fix}).")
        except (SlackClientError, OSError) as exc:  # the upload URL refused the bytes, or could not be reached
            log.error("export of %s not sent: %s", selection_words(selection), exc)
            tell("The export could not be sent: Slack did not take the file. Try again in a minute.")

    try:
        if trigger:
            services.once.run(f"export:{trigger}", deliver)
        else:  # not from Slack's own payload (which always has one): nothing to tell a retry by
            deliver()
    except StoreError as exc:  # nothing was sent: the claim is given back, so asking again works
        log.error("export of %s failed: the store did not answer: %s", selection_words(selection), exc)
        tell(store_unavailable("/opsbot export"))
