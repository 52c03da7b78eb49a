"""``opsbot console``: the bot's slash commands in a terminal, through the same
Bolt listeners and services, on the embedded SQLite store, no Slack needed."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.config import load_settings
from bot.entrypoints.console import CONSOLE_ADMIN, Console
from infra.sqlite_store import SqliteStore
from tests.conftest import AUDIT_CHANNEL, EVENTS_FILE, REPO

JADA = "2026-05-23-jada-charter"


def console_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A fresh clone's environment: no Slack, no Stripe, no AWS credentials."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(REPO),
        "HOME": str(tmp_path),
        "OPSBOT_STORE": f"sqlite:///{tmp_path / 'opsbot.db'}",
        "OPSBOT_EVENTS_FILE": str(EVENTS_FILE),
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
        **extra,
    }


def run_console(tmp_path: Path, script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot", "console"], input=script, env=console_env(tmp_path),
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)


def today_label() -> str:
    return f"{datetime.now(ZoneInfo('America/Los_Angeles')):%b %-d}"


def ids(text: str) -> list[str]:
    found: list[str] = []
    for match in re.findall(r"\b(?:pay|void)_[a-z0-9]{10}\b", text):
        if match not in found:
            found.append(match)
    return found


# -- piped: one command per line ------------------------------------------------------------------------------


def test_a_script_on_stdin_logs_a_payment_shows_the_balance_and_voids_it(tmp_path):
    script = "\n".join([
        "# a crew lead's first minutes",
        "/log-payment jada 500 venmo Ana Ruiz",
        "/events jada",
        "press 1",
        "/events jada",
    ]) + "\n"
    result = run_console(tmp_path, script)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    pay, void = ids(result.stdout)
    day = today_label()
    assert result.stdout == f"""\
opsbot console · SQLite store {tmp_path / 'opsbot.db'} · {EVENTS_FILE} (6 events, 3 sites)
You are @you, a local admin. Slack: not configured, so every message is shown here. \
Stripe: not configured, so /paylink is a dry run. Email: off.
Type help for the commands, quit to leave.
> /log-payment jada 500 venmo Ana Ruiz
[#console · only visible to you]
  Recorded: $500.00 (venmo) from Ana Ruiz for JADA Charter ({pay}). Balance now $1,060.00 of $1,560.00.
[#ops · opsbot]
  💰 @you logged $500.00 (venmo) from Ana Ruiz for JADA Charter
  Paid $500.00 of $1,560.00 · Balance $1,060.00
    {pay}
  [1 Void]
> /events jada
[#console · only visible to you]
  JADA Charter
  ============
  Sat May 23, 2026 · 2026-05-23-jada-charter
  ▓▓▓░░░░░░░ 32%
  Paid $500.00 of $1,560.00 · Balance $1,060.00 · not cleared

  Who paid · 1 patron
  Ana Ruiz · $500.00 · 1 payment

  {pay} · {day} · $500.00 venmo · Ana Ruiz · by @you
> press 1
[Void this payment? $500.00 from Ana Ruiz will be reversed with a new record. Admins only. → Void]
[#ops · only visible to you]
  Voided {pay}: $500.00 from Ana Ruiz. JADA Charter balance now $1,560.00 of $1,560.00.
[#ops · opsbot]
  ↩️ @you voided $500.00 (venmo) from Ana Ruiz for JADA Charter ({pay})
  Paid $0.00 of $1,560.00 · Balance $1,560.00
    {void}
[#ops · opsbot · message updated]
  💰 ~$500.00 (venmo) from Ana Ruiz for JADA Charter~ voided by @you
    {pay} · voided by {void}
> /events jada
[#console · only visible to you]
  JADA Charter
  ============
  Sat May 23, 2026 · 2026-05-23-jada-charter
  ░░░░░░░░░░ 0%
  Paid $0.00 of $1,560.00 · Balance $1,560.00 · not cleared

  Who paid · 1 patron
  ~Ana Ruiz~ · $0.00 · reversed

  {void} · {day} · -$500.00 venmo · Ana Ruiz · by @you
  ~{pay} · {day} · $500.00 venmo · Ana Ruiz · by @you~ (voided)
"""
    # The same ledger every other entry point uses: the payment and its void are in OPSBOT_STORE.
    records = SqliteStore(tmp_path / "opsbot.db").event_payments(JADA)
    assert [(r.payment_id, r.amount_cents, r.logged_by, r.voided_by) for r in records] == [
        (pay, 50_000, CONSOLE_ADMIN, void), (void, -50_000, CONSOLE_ADMIN, None)]


def test_a_line_it_does_not_understand_is_said_and_makes_the_exit_status_1(tmp_path):
    result = run_console(tmp_path, "/nope\nfrobnicate\npress 9\n/opsbot summary 2026-02-30\n")
    assert result.returncode == 1
    assert result.stderr == ""
    lines = result.stdout.splitlines()[3:]
    assert lines == [
        "> /nope",
        "[console: opsbot has no /nope command; type help for the ones it has]",
        "> frobnicate",
        "[console: 'frobnicate' is not a console command; slash commands start with / (type help)]",
        "> press 9",
        "[console: there is no button 9]",
        # A bot answer, even a refusal of the input, is a line understood.
        "> /opsbot summary 2026-02-30",
        "[#console · only visible to you]",
        "  '2026-02-30' is not a date like 2026-11-21. Usage: /opsbot summary [YYYY-MM-DD] — today's payments, "
        "or another day's.",
    ]


def test_find_and_export_in_the_console(tmp_path):
    script = "\n".join([
        "/log-payment jada 500 venmo Ana Ruiz",
        "/log-payment whale 100 cash ANA RUÍZ",
        "/opsbot find ana",
        "/opsbot export jada",
    ]) + "\n"
    result = run_console(tmp_path, script)
    assert result.returncode == 0, result.stderr
    found = result.stdout.split("> /opsbot find ana\n")[1].split("> /opsbot export")[0]
    assert "  Who paid · 1 patron\n  ANA RUÍZ · $600.00 · 2 payments\n" in found
    exported = result.stdout.split("> /opsbot export jada\n")[1]
    lines = exported.splitlines()
    assert lines[:5] == [
        "[#console · only visible to you]",
        "  Exporting JADA Charter as CSV: the file comes to you in a direct message from opsbot in a moment.",
        "[direct message · opsbot]",
        "  Ledger export of JADA Charter: 1 row: 1 payment $500.00, 0 reversals $0.00, net $500.00.",
        "[direct message · opsbot · file]",
    ]
    assert re.fullmatch(rf"  opsbot-export-{JADA}\.csv \(\d{{3}} bytes; `opsbot export --output FILE` writes it "
                        r"to disk\)", lines[5]), lines[5]
    assert len(lines) == 6


def test_help_lists_the_commands_and_quit_ends_the_script(tmp_path):
    result = run_console(tmp_path, "help\nquit\n/log-payment jada 5 cash Never Run\n")
    assert result.returncode == 0
    assert ("  press N          press button [N …], such as the Void button on an audit line (piped, a confirmation "
            "is yes)") in result.stdout
    assert "/log-payment EVENT AMOUNT METHOD PATRON…   record a payment" in result.stdout
    assert "Never Run" not in result.stdout.split("> quit")[-1]
    assert SqliteStore(tmp_path / "opsbot.db").event_payments(JADA) == []


# -- in-process: forms, Slack, the App Home --------------------------------------------------------------------


@pytest.fixture
def console_settings(tmp_path):
    def make(**extra: str):
        env = {k: v for k, v in console_env(tmp_path, **extra).items() if k.startswith(("OPSBOT_", "SLACK_"))}
        return load_settings(environ=env, env_file=None)

    return make


@pytest.fixture
def open_console(console_settings) -> Iterator:
    opened: list[Console] = []

    def make(answers: list[str] | None = None, **extra: str) -> tuple[Console, io.StringIO, list[str]]:
        out, prompts = io.StringIO(), []
        queue = list(answers or [])

        def ask(prompt: str) -> str:
            prompts.append(prompt)
            if not queue:
                raise EOFError
            return queue.pop(0)

        console = Console(console_settings(**extra), out=out, interactive=answers is not None, ask=ask)
        console.start()
        opened.append(console)
        return console, out, prompts

    yield make
    for console in opened:
        console.close()


def test_fill_submits_the_open_form_and_shows_field_errors_like_the_modal(open_console):
    console, out, _ = open_console()
    assert console.handle("/log-payment jada")
    shown = out.getvalue()
    assert "[form · Log a payment]" in shown
    assert "    5) JADA Charter · Sat May 23 · $1,560.00 due  [2026-05-23-jada-charter]  ← chosen" in shown
    assert "  (or use the one-line form: /log-payment EVENT AMOUNT METHOD PATRON…)" in shown

    out.truncate(0), out.seek(0)
    assert console.handle('fill patron="Bo <b> & co" amount=99999 method=cash')
    assert out.getvalue() == (
        "[form · Log a payment: not accepted]\n"
        "  Amount: $99,999.00 is $98,439.00 more than the balance: $1,560.00 is still owed on JADA Charter "
        "($1,560.00 total).\n")
    out.truncate(0), out.seek(0)
    assert console.handle("fill amount=60")
    pay = ids(out.getvalue())[0]
    assert out.getvalue().splitlines() == [
        "[form · Log a payment submitted]",
        "[#ops · opsbot]",
        "  💰 @you logged $60.00 (cash) from Bo <b> & co for JADA Charter",
        "  Paid $60.00 of $1,560.00 · Balance $1,500.00",
        f"    {pay}",
        "  [1 Void]",
        "[#console · only visible to you]",
        f"  Recorded: $60.00 (cash) from Bo <b> & co for JADA Charter ({pay}). Balance now $1,500.00 of $1,560.00.",
    ]
    assert not console.handle("fill amount=1")  # the form is closed
    assert out.getvalue().endswith("[console: no form is open (/log-payment alone opens one)]\n")


def test_interactively_the_form_is_asked_field_by_field_and_a_refused_field_again(open_console):
    answers = ["jada", "Ana Ruiz", "2000", "venmo", "deposit", "500"]
    console, out, prompts = open_console(answers)
    assert console.handle("/log-payment")
    assert prompts == ["  Event: ", "  Patron: ", "  Amount: ", "  Method: ", "  Notes (optional): ",
                       "  Amount [2000]: "]
    text = out.getvalue()
    assert ("  Amount: $2,000.00 is $440.00 more than the balance: $1,560.00 is still owed on JADA Charter "
            "($1,560.00 total).") in text
    assert "[form · Log a payment submitted]" in text
    [payment] = console.services.ledger.event_payments(JADA)
    assert (payment.patron, payment.amount_cents, payment.method, payment.notes) == ("Ana Ruiz", 50_000, "venmo",
                                                                                     "deposit")


def test_cancel_closes_the_form_and_records_nothing(open_console):
    console, out, prompts = open_console(["jada", "cancel"])
    assert console.handle("/log-payment")
    assert prompts == ["  Event: ", "  Patron: "]
    assert out.getvalue().endswith("[form · Log a payment closed]\n")
    assert console.services.ledger.event_payments(JADA) == []


def test_with_slack_configured_the_ops_channel_lines_go_to_slack_and_the_rest_stays_here(open_console, slack_api):
    console, out, _ = open_console(SLACK_BOT_TOKEN="xoxb-test", SLACK_SIGNING_SECRET="operator-secret",
                                   OPSBOT_SLACK_API_URL=slack_api.base_url, OPSBOT_AUDIT_CHANNEL=AUDIT_CHANNEL)
    assert console.handle("/log-payment jada 500 venmo Ana Ruiz")
    [audit] = slack_api.calls("chat.postMessage")
    assert audit.params["channel"] == AUDIT_CHANNEL
    assert f"<@{CONSOLE_ADMIN}> logged *$500.00* (venmo) from *Ana Ruiz*" in audit.params["blocks"][0]["text"]["text"]
    text = out.getvalue()
    assert f"[#ops in Slack ({AUDIT_CHANNEL}) · opsbot]" in text
    assert "  Recorded: $500.00 (venmo) from Ana Ruiz for JADA Charter" in text  # the receipt: only here

    assert console.handle("press 1")
    [struck] = slack_api.calls("chat.update")
    assert (struck.params["channel"], struck.params["ts"]) == (AUDIT_CHANNEL, audit.response["ts"])
    assert [c.params["channel"] for c in slack_api.calls("chat.postMessage")] == [AUDIT_CHANNEL, AUDIT_CHANNEL]
    # Replies to the console user never reach Slack: no ephemeral, no modal, no response_url there.
    assert {c.method for c in slack_api.calls()} == {"chat.postMessage", "chat.update"}
    assert console.services.ledger.status(JADA).paid_cents == 0


def test_the_app_home_in_the_console_and_its_log_payment_button(open_console):
    console, out, _ = open_console()
    assert console.handle("home")
    home = out.getvalue()
    assert home.startswith("[App Home · opsbot]\n  Ops dashboard\n")
    assert "you are admin" in home
    match = re.search(r"Whale Watch Charter · Sat Jan 16, 2027\n  ░░░░░░░░░░ 0%\n"
                      r"  Paid \$0\.00 of \$1,850\.00 · Balance \$1,850\.00 · not cleared\n"
                      r"    \[(\d+) Log payment\]", home)
    assert match, home
    # The ops page's links, grouped, each with its address spelled out.
    assert "\n  Stripe\n  • Dashboard (https://dashboard.stripe.com/) · payments, payouts, refunds\n" in home
    out.truncate(0), out.seek(0)
    assert console.handle(f"press {match.group(1)}")
    assert ("    4) Whale Watch Charter · Sat Jan 16 · $1,850.00 due  [2027-01-16-whale-watch-charter]  ← chosen"
            in out.getvalue())


def test_links_in_the_console_spell_out_each_address(open_console):
    console, out, _ = open_console()
    assert console.handle("/links route 53")
    assert out.getvalue() == (
        "[#console · only visible to you]\n  Links matching route 53\n  =======================\n  DNS\n"
        "  • Route 53 hosted zones (https://us-east-1.console.aws.amazon.com/route53/v2/hostedzones) · "
        "queenofsandiego.com and its subdomains\n    1 link matching “route 53”\n")


def test_as_crew_the_console_shows_what_crew_see(open_console):
    console, out, _ = open_console()
    assert console.handle("as crew")
    assert console.handle("/opsbot help")
    assert console.handle("/deploy birthday staging")
    text = out.getvalue()
    assert "/log-payment [EVENT AMOUNT METHOD PATRON…]" in text and "/deploy SITE" not in text
    # The refusal is answered first; its line for the ops channel follows, through the outbox.
    assert text.endswith("[#console · only visible to you]\n  Only admins can deploy sites. Ask one of: @you.\n"
                         "[#ops · opsbot]\n  ⛔ @you was refused command /deploy: it needs the admin role.\n")


# -- the local Slack: the one stand-in, as strict as Slack ------------------------------------------------------


def test_the_consoles_local_slack_refuses_what_slack_refuses_and_says_so(open_console):
    console, out, _ = open_console()
    assert console.slack is not None
    client = WebClient(token="xoxb-console-local", base_url=console.slack.base_url)
    out.truncate(0), out.seek(0)
    with pytest.raises(SlackApiError) as refused:
        client.chat_postMessage(channel="C0CONSOLE01", text="too long",
                                blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}])
    assert refused.value.response["error"] == "invalid_blocks"
    shown = out.getvalue().splitlines()
    assert shown[0] == "[console: Slack refused the bot's chat.postMessage: invalid_blocks]"
    assert "must be at most 3000 characters" in shown[1] and "/blocks/0/text/text" in shown[1]
    assert "x" * 100 not in out.getvalue()  # the refused message is never shown as posted

    out.truncate(0), out.seek(0)
    posted = client.chat_postMessage(channel="C0CONSOLE01", text="fits")
    assert posted["ok"] and out.getvalue().splitlines() == ["[#console · opsbot]", "  fits"]
