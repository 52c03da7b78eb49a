"""The ``opsbot`` command line. Settings are read once, at start; a bad setting
or events.json is one line on stderr and exit status 1, never a traceback.

Each command imports the composition root, the adapters and the Slack, AWS and Stripe
libraries inside its own function: cold start (`opsbot --version` or `hash-password` loads none of
them). None of those imports dodges a cycle: `lint-imports` forbids cycles."""

from __future__ import annotations

import argparse
import logging
import os
import re
import secrets
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.config import ConfigError, Settings, load_settings
from bot.core.catalog import EventsFileError
from bot.core.health import Part, scheduler_part, socket_mode_part
from bot.core.ledger import LedgerError
from bot.core.ports import SUMMARIES_KEPT, MailError, NotifyError, SchemaTooNew, StoreError
from bot.core.records import ExportTally
from bot.core.summaries import build_summaries
from bot.core.summary import build_summary
from bot.entrypoints.logs import configure_server_logging
from bot.entrypoints.startup import pause_collection
from bot.version import PACKAGE, opsbot_version

if TYPE_CHECKING:
    from bot.container import Services
    from bot.core.deliverer import Deliverer

HELP_EPILOG = ("Settings come from the environment and a .env file in the working directory (.env.example "
               "lists them all). README.md explains each command, the settings and running opsbot for real: "
               "the container, backups, upgrades and health checks.")
BCRYPT_MAX_BYTES = 72  # bcrypt ignores (bcrypt 5: refuses) anything past 72 bytes
BCRYPT_ROUNDS = 12
RETRY_PARKED_LIMIT = 10_000


class CliError(Exception):
    """A failure the user can fix; printed as one line."""


# -- commands ------------------------------------------------------------------------------


def cmd_init_store(settings: Settings, args: argparse.Namespace) -> int:
    from infra import open_store

    store = open_store(settings)
    done = store.init_schema()
    store.ping()
    print(f"{settings.store.describe()}: {done or 'already up to date'} (existing data is kept; safe to run again).")
    if store.get_record(*SUMMARIES_KEPT) is None:  # upgraded from an opsbot that kept no summaries: build them
        from bot.bootstrap import build_services

        services = build_services(settings, store=store)
        built = build_summaries(store, services.catalog, services.deploys, services.paylinks, services.ledger.today())
        print(f"{settings.store.describe()}: {built}.")
    return 0


def cmd_backup(settings: Settings, args: argparse.Namespace) -> int:
    if settings.store.kind == "dynamodb":
        return _dynamodb_recovery(settings, "backup", f"nothing was written to {args.file}")
    from infra.sqlite_backup import BackupError, backup_ledger

    try:
        check = backup_ledger(Path(settings.store.location), Path(args.file))
    except BackupError as exc:  # said here, so a server's start does not load the backup module for main()
        raise CliError(str(exc)) from None
    print(f"Backed up {settings.store.describe()} to {args.file}: {check.summary()}.")
    return 0


def cmd_restore(settings: Settings, args: argparse.Namespace) -> int:
    if settings.store.kind == "dynamodb":
        return _dynamodb_recovery(settings, "restore", "nothing was restored")
    from infra.sqlite_backup import BackupError, restore_ledger

    try:
        restored = restore_ledger(Path(args.file), Path(settings.store.location), force=args.force)
    except BackupError as exc:  # as in cmd_backup
        raise CliError(str(exc)) from None
    upgraded = (f" The copy had schema version {restored.upgraded_from}: it was upgraded on the way in."
                if restored.upgraded_from is not None else "")
    print(f"Restored {settings.store.describe()} from {args.file}: {restored.check.summary()}.{upgraded}")
    return 0


def _dynamodb_recovery(settings: Settings, command: str, outcome: str) -> int:
    """DynamoDB keeps its own backups (point-in-time recovery): say how, and whether it is on."""
    from infra import open_store
    from infra.dynamo_store import PITR_ON_COMMAND, DynamoStore

    table = settings.store.location
    store = open_store(settings)
    assert isinstance(store, DynamoStore)
    lines = [f"{settings.store.describe()}: `opsbot {command}` copies SQLite ledgers only; DynamoDB keeps the "
             "ledger's backups itself, with point-in-time recovery."]
    try:
        recovery = store.point_in_time_recovery()
    except StoreError as exc:
        lines.append(f"Whether it is on is unknown: {exc}.")
    else:
        if recovery.enabled:
            window = (f" from {recovery.earliest:%Y-%m-%d %H:%M:%S %Z} to {recovery.latest:%Y-%m-%d %H:%M:%S %Z}"
                      if recovery.earliest and recovery.latest else "")
            lines.append(f"Point-in-time recovery is ON: the table can be restored to any second{window} "
                         "(up to 35 days back).")
        else:
            lines.append(f"Point-in-time recovery is OFF: nothing covers this table. Turn it on: "
                         f"{PITR_ON_COMMAND.format(table=table)}")
    if command == "backup":
        lines.append(f"A copy to keep beyond that: aws dynamodb create-backup --table-name {table} "
                     f"--backup-name {table}-$(date +%F)")
    else:
        lines.append(f"To restore: aws dynamodb restore-table-to-point-in-time --source-table-name {table} "
                     f"--target-table-name {table}-restored --restore-date-time 2026-05-23T18:00:00Z (a restore "
                     f"always makes a new table); check it, then set OPSBOT_STORE=dynamodb://{table}-restored. "
                     "README.md: Running it for real, DynamoDB.")
    print("\n".join(lines))
    print(f"opsbot: {outcome}", file=sys.stderr)
    return 1


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    resume_collection = pause_collection()  # until the server listens: see bot/entrypoints/startup.py
    try:
        from bot.bootstrap import build_services, release_thread_connection
        from bot.entrypoints.http import serve

        services = build_services(settings)
        _configure_logging(settings)
        _prepare_store(services)
        # The main thread is done with the store (it goes on to run the server's loop; requests, the
        # deliverer and the schedule use their own threads' connections): the start reuses that memory.
        release_thread_connection(services)
        _exit_on_sigterm()
        schedule = ScheduleStart(services)
        services.health.watch("scheduler", schedule.probe)
        deliverer = _start_deliverer(services, args)

        def listening() -> None:
            resume_collection(started=True)
            schedule.start()

        try:
            serve(services, args.host, args.port, on_listening=listening)
        finally:
            _stop(schedule, deliverer)
    finally:
        resume_collection()  # a start that failed before the server listened
    return 0


def cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    if not settings.slack_app_token:
        return cmd_serve(settings, args)
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    from bot.bootstrap import build_services, build_slack_app

    if not settings.slack_signing_secret:
        # Socket Mode requests arrive on the app's own WebSocket, not as signed HTTP
        # (Bolt does not verify them): the bot and app-level tokens are all it needs.
        settings = replace(settings, slack_signing_secret=secrets.token_hex(16))
    services = build_services(settings)
    _configure_logging(settings)
    _prepare_store(services)
    _exit_on_sigterm()
    from slack_sdk.errors import SlackApiError

    from bot.entrypoints.scheduler import start_scheduler

    app = build_slack_app(services)
    scheduler = start_scheduler(services)  # the daily summary and reminders, as `serve` has them
    services.health.watch("scheduler", scheduler_part(scheduler))
    deliverer = _start_deliverer(services, args)
    try:
        run_socket_mode(services, app, settings.slack_app_token, args.host, args.port, SocketModeHandler)
    except SlackApiError as exc:
        error = exc.response.get("error") if isinstance(exc.response.data, dict) else exc.response.status_code
        raise CliError(f"SLACK_APP_TOKEN: Slack refused the Socket Mode connection ({error})") from None
    except OSError as exc:
        reason = getattr(exc, "reason", None) or exc
        raise CliError(f"OPSBOT_SLACK_API_URL: cannot reach the Slack API at {settings.slack_api_url} ({reason})"
                       ) from None
    finally:
        _stop(scheduler, deliverer)
    return 0


def _start_deliverer(services: Services, args: argparse.Namespace) -> Deliverer | None:
    """The outbox's deliverer in this process, unless ``--no-deliverer`` (an ``opsbot worker`` runs it)."""
    if getattr(args, "no_deliverer", False):
        logging.getLogger("opsbot").info("no deliverer in this process: run `opsbot worker` to send announcements")
        return None
    from bot.bootstrap import build_deliverer

    deliverer = build_deliverer(services)
    deliverer.start()
    return deliverer


class ScheduleStart:
    """``opsbot serve``'s daily summary and reminders, started on a thread once the server listens:
    APScheduler's import and start (about 40 ms) are then not between the start and the first
    answer. Meanwhile /healthz says the scheduler is starting. Nothing is less reliable for it:
    each job's first run is worked out from the moment the scheduler starts (a job due in the
    grace window runs at once, as after any start), and every post is guarded by its claim."""

    def __init__(self, services: Services):
        self.services = services
        self.scheduler: Any = None
        self.error: Exception | None = None
        self.started = threading.Event()  # set when the start is over, whether or not it worked
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._start, name="opsbot-schedule-start", daemon=True)
        self._thread.start()

    def _start(self) -> None:
        from bot.entrypoints.scheduler import start_scheduler  # cold start: APScheduler after the server listens

        try:
            self.scheduler = start_scheduler(self.services)
        except Exception as exc:  # reported by /healthz (a 503) and logged; the server goes on answering Slack
            logging.getLogger("opsbot.schedule").exception("the scheduler did not start")
            self.error = exc
        finally:
            self.started.set()

    def probe(self) -> Part:
        if not self.started.is_set():
            return Part(True, "starting")
        if self.scheduler is None:
            return Part(False, f"did not start ({self.error}): no daily summary or reminders")
        return scheduler_part(self.scheduler)()

    def shutdown(self, wait: bool = False) -> None:
        """No new jobs. A stop during the start waits for it, so no scheduler is left running."""
        if self._thread is not None:
            self._thread.join()
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=wait)


def _stop(scheduler: Any, deliverer: Deliverer | None) -> None:
    """On the way out: no new jobs; the deliverer finishes the call it is in (what is not
    delivered stays in the outbox for the next start or another worker)."""
    scheduler.shutdown(wait=False)
    if deliverer is not None:
        deliverer.stop()


def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    from bot.bootstrap import build_deliverer, build_services

    services = build_services(settings)
    _configure_logging(settings)
    if args.retry_parked:
        services.store.ping()
        count = services.store.requeue_parked(services.clock(), RETRY_PARKED_LIMIT)
        print(f"{count} parked announcement{'s' if count != 1 else ''} will be tried again now "
              "(by this installation's running deliverer, or the next `opsbot worker`).")
        return 0
    _prepare_store(services)
    _exit_on_sigterm()
    deliverer = build_deliverer(services)
    deliverer.start()
    logging.getLogger("opsbot").info("opsbot worker delivering the outbox of %s", settings.store.describe())
    try:
        signal.pause() if hasattr(signal, "pause") else threading.Event().wait()
    finally:
        deliverer.stop()
    return 0


def run_socket_mode(services: Services, app: Any, app_token: str, host: str, port: int,
                    handler_factory: Callable[..., Any]) -> None:
    """Slack over Socket Mode, and beside it the HTTP server for what Slack does not
    carry: the Stripe webhook, the web API and /healthz."""
    from bot.entrypoints.http import BackgroundServer, make_wsgi_app

    server = BackgroundServer(make_wsgi_app(services, app), host, port)
    log = logging.getLogger("opsbot")
    log.info("opsbot listening on %s (Stripe webhook, web API, health)", server.base_url)
    log.info("opsbot connecting to Slack in Socket Mode")
    try:
        # auto_reconnect_enabled (slack_sdk's default, stated here on purpose): a dropped
        # WebSocket or Slack's periodic refresh opens a new connection instead of ending the run.
        handler = handler_factory(app, app_token, auto_reconnect_enabled=True)
        services.health.watch("slack", socket_mode_part(handler.client))
        handler.start()
    finally:
        server.close()


def cmd_summary(settings: Settings, args: argparse.Namespace) -> int:
    from blocks.email import summary_email
    from blocks.summary import summary_text
    from bot.bootstrap import build_services
    from bot.entrypoints.scheduler import NotConfigured, post_summary

    services = build_services(settings)
    day = args.date or services.ledger.today()
    summary = build_summary(services.ledger, day)
    if args.email:
        if not services.email.on:
            raise CliError("email is off: set OPSBOT_EMAIL_FROM and OPSBOT_EMAIL_TO")
        try:
            services.email.send_now(summary_email(summary))
        except MailError as exc:
            raise CliError(f"the summary email was not sent: {exc.reason}") from None
        print(f"Emailed the summary for {day.isoformat()} to {', '.join(services.email.recipients)}.")
    if args.post:
        try:
            post_summary(services, day, summary)
        except NotConfigured as exc:
            raise CliError(str(exc)) from None
        print(f"Posted the summary for {day.isoformat()} to {settings.audit_channel}.")
    if not (args.post or args.email):
        sys.stdout.write(summary_text(summary))
    return 0


def cmd_export(settings: Settings, args: argparse.Namespace) -> int:
    """The ledger as CSV, to --output FILE (written whole, then renamed into place) or to stdout."""
    from blocks.export import csv_lines, selection_words, tally_words
    from bot.bootstrap import build_services

    services = build_services(settings)
    try:
        selection = services.records.select(event=args.event, first=args.first, last=args.last)
    except LedgerError as exc:
        raise CliError(" ".join(exc.errors.values())) from None
    tally = ExportTally()

    def counted() -> Iterator[Any]:
        nonlocal tally
        for row in services.records.rows(selection):
            tally = tally.add(row)
            yield row

    if args.output is None:
        try:
            sys.stdout.writelines(csv_lines(counted()))
            sys.stdout.flush()
        except BrokenPipeError:
            # The reader stopped early (`opsbot export | head`): what it read was its choice.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
            return 0
    else:
        write_private_file(Path(args.output), csv_lines(counted()))
    where = f" to {args.output}" if args.output else ""
    print(f"Exported {selection_words(selection)}{where}: {tally_words(tally)}.", file=sys.stderr)
    return 0


def write_private_file(path: Path, lines: Iterable[str]) -> None:
    """Write ``lines`` (UTF-8) to ``path``, readable by its owner only (it holds patrons' names and
    money): into a new file beside it, renamed over ``path`` once whole, so a failure half-way leaves
    no half-written file and any older file as it was."""
    folder = path.absolute().parent
    if not folder.is_dir():
        raise CliError(f"{path}: no folder {folder}")
    partial = folder / f".{path.name}.{secrets.token_hex(4)}.partial"
    try:
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with open(descriptor, "w", encoding="utf-8", newline="") as out:
            out.writelines(lines)
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, path)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise CliError(f"{path}: cannot write: {exc.strerror or exc}") from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def cmd_console(settings: Settings, args: argparse.Namespace) -> int:
    from bot.entrypoints.console import run_console

    return run_console(settings)


def cmd_doctor(args: argparse.Namespace) -> int:
    from bot.entrypoints.doctor import run_doctor

    return run_doctor()


def cmd_hash_password(args: argparse.Namespace) -> int:
    import getpass  # deferred for a server's idle memory: only this command asks for a password (termios)

    import bcrypt

    try:
        password = getpass.getpass("Admin password: ")
        if not password:
            raise CliError("the password is empty; nothing to hash")
        size = len(password.encode("utf-8"))
        if size > BCRYPT_MAX_BYTES:
            raise CliError(
                f"the password is {size} bytes; bcrypt uses at most {BCRYPT_MAX_BYTES}: choose a shorter one"
            )
        if getpass.getpass("Same password again: ") != password:
            raise CliError("the two passwords differ; nothing was hashed")
    except EOFError:
        raise CliError("no password was given (input ended)") from None
    hashed = bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(BCRYPT_ROUNDS)).decode("ascii")
    print(hashed)
    print("Set ADMIN_PASS_HASH to the line above (in .env, quote it: the hash contains $).", file=sys.stderr)
    return 0


# -- helpers -------------------------------------------------------------------------------


def _configure_logging(settings: Settings) -> None:
    configure_server_logging(settings.log_level)


def _prepare_store(services: Services) -> None:
    """At start-up: bring an older ledger up to date; a ledger from a newer opsbot stops the
    start (SchemaTooNew). A store that is not there yet or does not answer is only a warning:
    /healthz says 503 until it does, and `opsbot init-store` creates it."""

    log = logging.getLogger("opsbot")
    try:
        done = services.store.upgrade_schema()
        if done:
            log.info("store: %s", done)
        services.store.ping()
        built = build_summaries(services.store, services.catalog, services.deploys, services.paylinks,
                                services.ledger.today())
        if built:
            log.info("store: %s", built)
    except SchemaTooNew:
        raise
    except StoreError as exc:
        log.warning("store not ready: %s", exc)


def _exit_on_sigterm() -> None:
    # SIGTERM (systemd, docker stop) shuts down like Ctrl-C: the server loop
    # catches SystemExit and stops its worker threads.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))


class _PrintVersion(argparse.Action):
    """``--version``: the version is looked up when asked for, not each time the parser is built
    (reading the package's metadata is a noticeable part of `opsbot serve`'s start)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        sys.stdout.write(f"{PACKAGE} {opsbot_version()}\n")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="opsbot",
        description="Slack chat-ops bot for an event crew: payments, Stripe payment links, site deploys, "
                    "the daily summary. `opsbot COMMAND --help` says more about each command.",
        epilog=HELP_EPILOG,
    )
    parser.add_argument("--version", action=_PrintVersion, nargs=0, help="print the version and exit")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("run", help="run the bot: Socket Mode when SLACK_APP_TOKEN is set, else the HTTP server; "
                                   "with the daily summary and reminders",
                       description="Run the bot. With SLACK_APP_TOKEN it connects to Slack in Socket Mode and "
                                   "serves the Stripe webhook, the web API and /healthz over HTTP beside it; "
                                   "without, it is `opsbot serve`. The daily summary and reminders run on a "
                                   "schedule. An older SQLite ledger is upgraded at start.")
    _add_listen_options(p)
    p.set_defaults(handler=cmd_run)

    p = sub.add_parser("serve", help="the HTTP server only (Slack requests at /slack/events), with the schedule",
                       description="Serve Slack's requests (POST /slack/events), the Stripe webhook, the web API "
                                   "and /healthz over HTTP, and run the daily summary and reminders.")
    _add_listen_options(p)
    p.set_defaults(handler=cmd_serve)

    p = sub.add_parser("worker", help="deliver the outbox (audit lines, receipts, email copies) as its own process",
                       description="Sends what the outbox holds, as the server does by default: run it beside "
                                   "`opsbot serve --no-deliverer` (or as well as a server: entries are claimed, "
                                   "never sent twice). Runs until stopped (SIGTERM, Ctrl-C).")
    p.add_argument("--retry-parked", action="store_true",
                   help="make the parked announcements due again (after fixing why they failed) and exit")
    p.set_defaults(handler=cmd_worker)

    p = sub.add_parser("init-store", help="create the SQLite schema or the DynamoDB table, or upgrade an older "
                                          "ledger (safe to run again)")
    p.set_defaults(handler=cmd_init_store)

    p = sub.add_parser("backup", help="a consistent, checked copy of the SQLite ledger, safe while the bot runs",
                       description="Copy the SQLite ledger (OPSBOT_STORE) to FILE with SQLite's online backup: "
                                   "the ledger as of one moment, while the bot goes on writing. The copy is checked "
                                   "(integrity, totals) and readable by its owner only. For DynamoDB, says how "
                                   "point-in-time recovery covers the table.")
    p.add_argument("file", metavar="FILE", help="the new backup file (never an existing one)")
    p.set_defaults(handler=cmd_backup)

    p = sub.add_parser("restore", help="replace the SQLite ledger with a checked backup (stop the bot first)",
                       description="Check FILE (integrity, schema version, every event's totals against its "
                                   "records), then put it in place of the SQLite ledger (OPSBOT_STORE) in one "
                                   "rename. Refuses while opsbot runs on the ledger, and refuses to replace a "
                                   "ledger that holds anything unless --force. For DynamoDB, says how to restore "
                                   "with point-in-time recovery.")
    p.add_argument("file", metavar="FILE", help="a backup made by `opsbot backup`")
    p.add_argument("--force", action="store_true", help="replace a ledger that is not empty")
    p.set_defaults(handler=cmd_restore)

    p = sub.add_parser("summary", help="print (or post, or email) the daily payment summary")
    p.add_argument("--date", type=_day, help="the day, YYYY-MM-DD (default: today in the crew time zone)")
    p.add_argument("--post", action="store_true", help="post it to OPSBOT_AUDIT_CHANNEL instead of printing it")
    p.add_argument("--email", action="store_true",
                   help="email it now to OPSBOT_EMAIL_TO instead of printing it (also a test of the email set-up)")
    p.set_defaults(handler=cmd_summary)

    p = sub.add_parser("export", help="the ledger's records as CSV (payments and reversals, in time order)",
                       description="Write the ledger's records as CSV, one row per record (payments and "
                                   "reversals), oldest first, with the columns README.md lists: to stdout, or to "
                                   "--output FILE. Without --event, every event in events.json; with --from or "
                                   "--to and no event, every record of those days (a year at most). A summary "
                                   "line goes to stderr.")
    p.add_argument("--event", metavar="ID", help="one event (its id, or enough of it to be the only match; an "
                                                 "event no longer in events.json by its exact id)")
    p.add_argument("--from", dest="first", type=_day, metavar="YYYY-MM-DD",
                   help="from this day on (in the crew time zone)")
    p.add_argument("--to", dest="last", type=_day, metavar="YYYY-MM-DD", help="up to this day, included")
    p.add_argument("--output", metavar="FILE", help="write the CSV to FILE (replaced whole; readable by you only) "
                                                   "instead of stdout")
    p.set_defaults(handler=cmd_export)

    p = sub.add_parser("console", help="type slash commands and see the bot's replies, no Slack needed",
                       description="The bot's slash commands in a terminal, answered by the same listeners and "
                                   "services as in Slack, on OPSBOT_STORE. Interactive on a terminal; otherwise "
                                   "one command per line from stdin until EOF (exit status 1 when a line was not "
                                   "understood).")
    p.set_defaults(handler=cmd_console)

    p = sub.add_parser("doctor", help="check the configuration and each configured service; say what to fix")
    p.set_defaults(handler=cmd_doctor, needs_settings=False)

    p = sub.add_parser("hash-password", help="read a password without echo and print its bcrypt hash")
    p.set_defaults(handler=cmd_hash_password, needs_settings=False)
    return parser


def _add_listen_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=_port, default=3000, help="port to listen on (default 3000)")
    parser.add_argument("--no-deliverer", action="store_true",
                        help="do not send the outbox's announcements from this process (an `opsbot worker` does)")


def _day(text: str) -> date:
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a date in YYYY-MM-DD form")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a real date") from None


def _port(text: str) -> int:
    if not text.isdigit() or not 0 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0-65535)")
    return int(text)


def main(argv: Sequence[str] | None = None) -> int:
    from bot.bootstrap import SlackSetupError
    from bot.entrypoints.http import ServeError

    args = build_parser().parse_args(argv)
    handler: Callable[..., int] = args.handler
    try:
        if not getattr(args, "needs_settings", True):
            return handler(args)
        settings = load_settings()
        return handler(settings, args)
    except (ConfigError, EventsFileError, StoreError, SlackSetupError, ServeError, CliError, NotifyError) as exc:
        print(f"opsbot: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
