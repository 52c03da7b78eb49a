"""``opsbot console``: the bot's slash commands in a terminal, no Slack needed.

Each line is turned into the request Slack would send (a signed slash command,
a ``block_actions`` click, a ``view_submission``, an ``app_home_opened``
event) and dispatched to the very same Bolt app and services the server runs,
in-process. What the bot sends back (the ack, ``response_url`` posts, channel
messages, modals, the App Home) is rendered as text. Nothing leaves the
machine except, when Slack is configured, the ops channel's audit lines.

The console user is a local admin for the session (DESIGN.md). The composition root and the
Slack libraries are imported when the session starts (cold start: `opsbot console --help`)."""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import secrets
import shlex
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from blocks.text_render import mrkdwn_to_text, plain, render_message
from bot.config import Settings
from infra.local_slack.payloads import form as form_body
from infra.local_slack.payloads import home_opened, interaction
from infra.local_slack.signing import signed_headers, slash_command_body
from infra.local_slack.web_api import RESPONSE_URL_METHOD, UPLOAD_URL_METHOD, SlackApiStandIn, SlackCall, SlackIdentity

if TYPE_CHECKING:
    from slack_bolt import App

    from bot.container import Services
    from bot.core.deliverer import Deliverer

TEAM_ID = "T0CONSOLE01"
APP_ID = "A0CONSOLE01"
BOT_USER = "U0OPSBOT001"
BOT_ID = "B0OPSBOT001"
CONSOLE_ADMIN = "U0CONSOLE01"  # the operator: a local admin for the session
CONSOLE_CREW = "U0CONSOLE02"  # `as crew`: the same console as a crew member sees it
CONSOLE_CHANNEL = "C0CONSOLE01"  # where the console's slash commands are "typed"
LOCAL_OPS_CHANNEL = "C0CONSOLEOPS"  # the ops channel when none is configured
LOCAL_BOT_TOKEN = "xoxb-console-local"
CONSOLE_IDENTITY = SlackIdentity(team_id=TEAM_ID, team_domain="console", team_name="opsbot console",
                                 bot_user_id=BOT_USER, bot_id=BOT_ID, app_id=APP_ID)
DRAIN_SECONDS = 120.0  # at most, after a command, for what it announced (paced only toward the real Slack)
HISTORY_FILE = ".opsbot_console_history"

HELP = """\
Type what you would type in Slack; the bot answers here.
  /log-payment EVENT AMOUNT METHOD PATRON…   record a payment   (/log-payment alone opens the form)
  /events [EVENT|all]                        who has paid what
  /links [GROUP|TEXT]                        the ops page's links (Stripe, sheets, consoles, each site's)
  /paylink AMOUNT [DESCRIPTION…] [--event EVENT]   a Stripe payment link (a dry run without STRIPE_API_KEY)
  /deploy SITE [staging|production|promote|rollback|history]  publish, roll back (a dry run without AWS credentials)
  /opsbot help|summary|void PAYMENT_ID       help, today's summary, void a payment
  /opsbot find TEXT                          a patron's payments across events, with their total
  /opsbot export [EVENT|all] [--from D] [--to D]   the ledger as CSV (shown here by name and size)
Console commands:
  press N          press button [N …], such as the Void button on an audit line (piped, a confirmation is yes)
  fill F=V …       fill in the open form and submit it: fill event=jada amount=500 method=cash patron="Ana Ruiz"
  cancel           close the open form
  home             open the App Home (the ops dashboard)
  as crew|admin    act as a crew member or as an admin (you start as an admin)
  help             this text
  quit             leave (or Ctrl-D)"""


class ConsoleError(Exception):
    """A console line that cannot be done (not a bot answer: a console one)."""


# -- lazy listeners, in order ---------------------------------------------------------------


class InOrderExecutor(Executor):
    """Bolt's listener executor for the console: lazy listeners wait in a queue
    and run, in order, when the console drains it after showing the ack, so the
    transcript reads in the order things happen."""

    def __init__(self) -> None:
        self._queue: deque[tuple[Future, Callable[..., Any], tuple, dict]] = deque()
        self._lock = threading.Lock()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        future: Future = Future()
        with self._lock:
            self._queue.append((future, fn, args, kwargs))
        return future

    def drain(self) -> None:
        while True:
            with self._lock:
                if not self._queue:
                    return
                future, fn, args, kwargs = self._queue.popleft()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn(*args, **kwargs))
            except Exception as exc:  # noqa: BLE001 - said, then kept on the future as any executor does
                # Bolt's lazy runner reports a listener's failure itself; this is anything else.
                logging.getLogger("opsbot.console").error("work after the ack failed: %s", exc)
                future.set_exception(exc)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            pending = list(self._queue)
            self._queue.clear()
        for future, *_ in pending:
            future.cancel()


# -- what can be pressed and filled in -----------------------------------------------------------


@dataclass
class Button:
    number: int
    element: dict[str, Any]
    block_id: str | None
    container: dict[str, Any]  # Slack's "container" of the click
    message: dict[str, Any] | None = None  # the message it is on (None: a view)
    view: dict[str, Any] | None = None  # the view it is on (the App Home)
    channel: str | None = None
    where: tuple[str, str] | None = None  # (channel, ts): gone once that message is replaced
    stale: bool = False


@dataclass
class Form:
    view: dict[str, Any]  # as views.open answered it (with its id)
    values: dict[str, dict[str, Any]] = field(default_factory=dict)  # block id -> state element
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def inputs(self) -> list[dict[str, Any]]:
        return [b for b in self.view.get("blocks", []) if b.get("type") == "input"]

    @property
    def title(self) -> str:
        return plain(self.view.get("title")) or "Form"


# -- the console ------------------------------------------------------------------------------


class Console:
    """One console session: services, the Bolt app, the local Slack (a listener
    on 127.0.0.1 for Web API calls and response_url posts), and the transcript
    written to ``out``."""

    def __init__(self, settings: Settings, *, out: TextIO | None = None, interactive: bool = False,
                 ask: Callable[[str], str] | None = None):
        self.operator_settings = settings
        self.out = out or sys.stdout
        self.interactive = interactive
        self.ask = ask or input
        self.user = CONSOLE_ADMIN
        self._lock = threading.RLock()
        self._ts = itertools.count(1)
        self._ids = itertools.count(1)
        self._buttons: dict[int, Button] = {}
        self._button_numbers = itertools.count(1)
        self._forms: list[Form] = []
        self._responses: dict[str, dict[str, Any]] = {}  # response_url id -> what it answers for
        self.services: Services | None = None
        self.app: App | None = None
        self.deliverer: Deliverer | None = None
        self.executor = InOrderExecutor()
        self.slack: SlackApiStandIn | None = None
        self.signing_secret = ""
        self.ops_channel = LOCAL_OPS_CHANNEL
        self.slack_upstream = False

    # -- set-up --------------------------------------------------------------------------------
    def start(self) -> None:
        from bot.bootstrap import build_deliverer, build_services, build_slack_app
        from bot.core.deliverer import LOCAL_POLICY, DeliveryPolicy
        from infra.local_slack.console_notifier import RoutingNotifier
        from infra.slack_notifier import SlackNotifier, slack_client

        operator = self.operator_settings
        self.signing_secret = operator.slack_signing_secret or secrets.token_hex(16)
        self.slack_upstream = bool(operator.slack_bot_token and operator.audit_channel)
        self.ops_channel = operator.audit_channel or LOCAL_OPS_CHANNEL
        crew = operator.crew | {CONSOLE_CREW} if operator.crew else operator.crew
        settings = replace(
            operator,
            slack_bot_token=operator.slack_bot_token or LOCAL_BOT_TOKEN,
            slack_signing_secret=self.signing_secret,
            admins=operator.admins | {CONSOLE_ADMIN},
            crew=crew,
            audit_channel=self.ops_channel,
        )
        # Bolt makes a WebClient per request from the app's client (its base URL
        # included), so the local Slack is an HTTP listener on 127.0.0.1: every
        # Web API call and response_url post lands there, checked as Slack checks it.
        self._start_local_slack(str(operator.timezone))
        assert self.slack is not None
        local = slack_client(settings.slack_bot_token, self.slack.base_url)
        upstream = None
        if self.slack_upstream:
            assert operator.slack_bot_token is not None
            upstream = SlackNotifier(slack_client(operator.slack_bot_token, operator.slack_api_url))
        notifier = RoutingNotifier(SlackNotifier(local), upstream, self.ops_channel, self._echo_upstream)
        services = build_services(settings, notifier=notifier, slack_client=local)
        if settings.store.kind == "sqlite":
            services.store.init_schema()  # a fresh clone works with no set-up
        services.store.ping()
        self.services = services
        self.app = build_slack_app(services, client=local, token_verification_enabled=False,
                                   listener_executor=self.executor)
        # The outbox is delivered here, after each command (settle): the transcript reads in order.
        # Only the real Slack's ops channel is paced.
        self.deliverer = build_deliverer(services, notifier=notifier,
                                         policy=DeliveryPolicy() if self.slack_upstream else LOCAL_POLICY)

    def close(self) -> None:
        if self.deliverer is not None:
            self.deliverer.drain(timeout=60)  # what the last command announced gets its chance to go
        if self.slack is not None:
            self.slack.close()
            self.slack = None
        self.executor.shutdown()

    def banner(self) -> str:

        assert self.services is not None
        catalog = self.services.catalog
        settings = self.operator_settings
        if self.slack_upstream:
            slack = f"the ops channel's lines also go to Slack ({settings.audit_channel}); the rest is shown here"
        else:
            slack = "not configured, so every message is shown here"
        stripe = "test mode" if settings.stripe_api_key and "_test_" in settings.stripe_api_key else (
            "LIVE mode" if settings.stripe_api_key else "not configured, so /paylink is a dry run")
        email = (f"copies go to {', '.join(settings.email.recipients)}" if settings.email else "off")
        return (f"opsbot console · {settings.store.describe()} · {settings.events_file} "
                f"({len(catalog.events)} events, {len(catalog.sites)} sites)\n"
                f"You are @you, a local admin. Slack: {slack}. Stripe: {stripe}. Email: {email}.\n"
                "Type help for the commands, quit to leave.")

    # -- output ----------------------------------------------------------------------------------
    def write(self, *lines: str) -> None:
        with self._lock:
            for line in lines:
                self.out.write(line + "\n")
            self.out.flush()

    def mention(self, user_id: str) -> str:
        if user_id in (CONSOLE_ADMIN, CONSOLE_CREW):
            return "@you"
        if user_id == BOT_USER:
            return "@opsbot"
        return f"@{user_id}"

    def channel_name(self, channel: str) -> str:
        if channel == CONSOLE_CHANNEL:
            return "#console"
        if channel == self.ops_channel:
            return "#ops" if not self.slack_upstream else f"#ops in Slack ({channel})"
        if channel in (CONSOLE_ADMIN, CONSOLE_CREW) or channel.startswith("D"):
            return "direct message"
        return f"#{channel}"

    def show(self, headline: str, text: str | None, blocks: list[dict] | None, *,
             register: Callable[[dict[str, Any], str | None], Button] | None = None) -> None:
        def label(element: dict[str, Any], block_id: str | None) -> str:
            name = plain(element.get("text"))
            if register is None:
                return f"[{name}]"
            return f"[{register(element, block_id).number} {name}]"

        with self._lock:
            self.write(f"[{headline}]", *render_message(text, blocks, button=label, mention=self.mention))

    def _new_button(self, element: dict[str, Any], block_id: str | None, **where: Any) -> Button:
        with self._lock:
            button = Button(number=next(self._button_numbers), element=element, block_id=block_id, **where)
            self._buttons[button.number] = button
            return button

    def _retire(self, where: tuple[str, str]) -> None:
        with self._lock:
            for button in self._buttons.values():
                if button.where == where:
                    button.stale = True

    def _message_buttons(self, channel: str, ts: str, message: dict[str, Any], *, ephemeral: bool
                         ) -> Callable[[dict[str, Any], str | None], Button]:
        container = {"type": "message", "message_ts": ts, "channel_id": channel, "is_ephemeral": ephemeral}
        return lambda element, block_id: self._new_button(
            element, block_id, container=container, message=message, channel=channel, where=(channel, ts))

    # -- the local Slack: the one Web API stand-in (infra/local_slack), its calls shown here ------------
    def _start_local_slack(self, timezone: str) -> None:
        slack = SlackApiStandIn(CONSOLE_IDENTITY, observer=self._on_slack_call, keep_calls=False)
        for user in (CONSOLE_ADMIN, CONSOLE_CREW):
            slack.users[user] = {"id": user, "team_id": TEAM_ID, "name": "you", "real_name": "you",
                                 "deleted": False, "is_bot": False, "tz": timezone,
                                 "profile": {"real_name": "you", "display_name": "you"}}
        for channel in (CONSOLE_CHANNEL, self.ops_channel):
            slack.channels[channel] = {"id": channel, "name": self.channel_name(channel).lstrip("#"),
                                       "is_channel": True, "is_member": True, "is_archived": False}
        self.slack = slack.start()

    def _next_ts(self) -> str:
        return f"{int(time.time())}.{next(self._ts):06d}"

    def _on_slack_call(self, call: SlackCall) -> None:
        """Show what the bot sent to the local Slack; a call Slack refuses is shown as refused."""
        answer = call.response if isinstance(call.response, dict) else {}
        if call.method == RESPONSE_URL_METHOD:
            if call.status == 200:
                self.on_response(call.path.rsplit("/", 1)[-1], call.params)
            else:
                self._show_refusal("reply", answer)
            return
        if call.method == UPLOAD_URL_METHOD:
            return  # the bytes; the file is shown when it is shared
        if not answer.get("ok"):
            if answer.get("error") == "unknown_method":
                self.write(f"[console: the bot called Slack's {call.method}, which the console does not offer]")
            else:
                self._show_refusal(call.method, answer)
            return
        shown = _SHOWN.get(call.method)
        if shown is not None:
            shown(self, call.params, answer)

    def _show_refusal(self, what: str, answer: dict[str, Any]) -> None:
        details = (answer.get("response_metadata") or {}).get("messages") or []
        self.write(f"[console: Slack refused the bot's {what}: {answer.get('error')}]", *(f"  {m}" for m in details))

    def _show_post(self, params: dict[str, Any], answer: dict[str, Any]) -> None:
        channel, ts = str(answer["channel"]), str(answer["ts"])
        self._show_message(f"{self.channel_name(channel)} · opsbot", channel, ts, answer["message"])

    def _show_message(self, headline: str, channel: str, ts: str, message: dict[str, Any], *,
                      ephemeral: bool = False) -> None:
        self.show(headline, message.get("text"), message.get("blocks"),
                  register=self._message_buttons(channel, ts, message, ephemeral=ephemeral))

    def _show_update(self, params: dict[str, Any], answer: dict[str, Any]) -> None:
        channel, ts = str(answer["channel"]), str(answer["ts"])
        self._retire((channel, ts))
        self._show_message(f"{self.channel_name(channel)} · opsbot · message updated", channel, ts, answer["message"])

    def _show_ephemeral(self, params: dict[str, Any], answer: dict[str, Any]) -> None:
        channel, ts = str(params.get("channel") or ""), str(answer["message_ts"])
        message = {"type": "message", "ts": ts, "text": params.get("text", ""), "blocks": params.get("blocks") or []}
        self._show_message(f"{self.channel_name(channel)} · only visible to you", channel, ts, message,
                           ephemeral=True)

    def _show_opened_view(self, params: dict[str, Any], answer: dict[str, Any]) -> None:
        with self._lock:
            self._forms.append(Form(answer["view"]))
        self.show_form(self._forms[-1])

    def _show_updated_view(self, params: dict[str, Any], answer: dict[str, Any]) -> None:
        view = answer["view"]
        form = next((f for f in self._forms if f.view["id"] == view["id"]), None)
        if form is None:
            return  # a form the console user already closed
        form.view = view
        form.values, form.errors = {}, {}
        self.show_form(form)

    def _show_home(self, params: dict[str, Any], answer: dict[str, Any]) -> None:
        view = answer["view"]
        with self._lock:
            for button in self._buttons.values():
                if button.view is not None and button.view["id"] == view["id"]:
                    button.stale = True
            container = {"type": "view", "view_id": view["id"]}
            self.show("App Home · opsbot", None, view.get("blocks"), register=lambda element, block_id:
                      self._new_button(element, block_id, container=container, view=view))

    # files_upload_v2: the console shows the file's name and size (`opsbot export --output FILE` writes the
    # same CSV to disk).
    def _show_files(self, params: dict[str, Any], answer: dict[str, Any]) -> None:
        channel = str(params.get("channel_id") or "")
        files = {f.file_id: f for f in self.slack.uploaded()}
        for shared in answer["files"]:
            upload = files[shared["id"]]
            self.write(f"[{self.channel_name(channel) if channel else 'private'} · opsbot · file]",
                       f"  {upload.filename} ({len(upload.data or b''):,} bytes; `opsbot export --output FILE` "
                       "writes it to disk)")

    def _echo_upstream(self, method: str, args: dict[str, Any]) -> None:
        """An ops-channel line that went to the real Slack: shown here as well."""
        channel, ts = str(args["channel"]), str(args["ts"])
        message = {"type": "message", "ts": ts, "text": args.get("text", ""), "blocks": args.get("blocks") or []}
        if method == "chat.update":
            self._retire((channel, ts))
            headline = f"{self.channel_name(channel)} · opsbot · message updated"
        else:
            headline = f"{self.channel_name(channel)} · opsbot"
        self._show_message(headline, channel, ts, message)

    def response_url(self, **source: Any) -> str:
        """A response_url that lands in the local Slack; ``source`` is the message it answers for."""
        key = f"r{next(self._ids)}"
        self._responses[key] = source
        return f"{self.slack.root_url}/response/{key}"

    def on_response(self, key: str, payload: dict[str, Any]) -> bool:
        source = self._responses.get(key)
        if source is None:
            return False
        channel = source.get("channel") or CONSOLE_CHANNEL
        if payload.get("delete_original"):
            if source.get("where"):
                self._retire(source["where"])
            self.write("[the message above was deleted]")
            return True
        replaced = bool(payload.get("replace_original")) and source.get("where") is not None
        if replaced:
            self._retire(source["where"])
        in_channel = payload.get("response_type") == "in_channel"
        headline = f"{self.channel_name(channel)} · {'opsbot' if in_channel else 'only visible to you'}"
        if replaced:
            headline += " · replaces the message above"
        ts = self._next_ts()
        message = {"type": "message", "ts": ts, "text": payload.get("text", ""), "blocks": payload.get("blocks") or []}
        self._show_message(headline, channel, ts, message, ephemeral=not in_channel)
        return True

    # -- requests to the Bolt app --------------------------------------------------------------------
    def _dispatch(self, body: str, content_type: str) -> tuple[int, str]:
        from slack_bolt.request import BoltRequest

        assert self.app is not None
        headers = {name.lower(): value for name, value in
                   signed_headers(body, self.signing_secret, content_type=content_type).items()}
        response = self.app.dispatch(BoltRequest(body=body, headers=headers))
        return response.status, response.body

    def _interaction(self, kind: str, **fields: Any) -> dict[str, Any]:
        """An interactivity payload from the console user, as Slack sends it, with a fresh trigger_id."""
        return interaction(kind, user_id=self.user, user_name="you", app=CONSOLE_IDENTITY,
                           trigger_id=f"{int(time.time())}.{next(self._ids)}.console", **fields)

    def slash_command(self, command: str, text: str) -> bool:
        trigger = f"{int(time.time())}.{next(self._ids)}.console"
        response_url = self.response_url(channel=CONSOLE_CHANNEL)
        body = slash_command_body(command, text, user_id=self.user, user_name="you", channel_id=CONSOLE_CHANNEL,
                                  channel_name="console", trigger_id=trigger, response_url=response_url,
                                  app=CONSOLE_IDENTITY)
        status, reply = self._dispatch(body, "application/x-www-form-urlencoded")
        if status == 404:
            self.write(f"[console: opsbot has no {command} command; type help for the ones it has]")
            return False
        self._show_ack(status, reply, channel=CONSOLE_CHANNEL)
        self.settle()
        return True

    def _show_ack(self, status: int, reply: str, *, channel: str) -> dict[str, Any]:
        """Show an ack body (a message for the user), and return it parsed."""
        if status != 200:
            self.write(f"[console: the bot answered HTTP {status}{': ' + reply if reply else ''}]")
            return {}
        if not reply.strip():
            return {}
        try:
            payload = json.loads(reply)
        except json.JSONDecodeError:
            payload = {"text": reply}
        if not isinstance(payload, dict):
            return {}
        if "text" in payload or "blocks" in payload:
            ts = self._next_ts()
            in_channel = payload.get("response_type") == "in_channel"
            headline = f"{self.channel_name(channel)} · {'opsbot' if in_channel else 'only visible to you'}"
            message = {"type": "message", "ts": ts, "text": payload.get("text", ""),
                       "blocks": payload.get("blocks") or []}
            self._show_message(headline, channel, ts, message, ephemeral=not in_channel)
        return payload

    def after_ack(self) -> None:
        """Run what the bot does after the ack, then deliver what it announced."""
        self.executor.drain()
        if self.deliverer is not None:
            self.deliverer.drain(timeout=DRAIN_SECONDS)

    def settle(self) -> None:
        """Run what the bot does after the ack and deliver what it announced, then any form it opened."""
        self.after_ack()
        while self.interactive and self._forms:
            if not self.fill_interactively(self._forms[-1]):
                break

    def press(self, number: int) -> None:
        button = self._buttons.get(number)
        if button is None:
            raise ConsoleError(f"there is no button {number}")
        if button.stale:
            raise ConsoleError(f"button {number} is gone: the message it was on has changed")
        element = button.element
        name = plain(element.get("text"))
        if element.get("url") and not element.get("action_id"):
            self.write(f"[{name} opens {element['url']} in the browser]")
            return
        confirm = element.get("confirm")
        if confirm and not self._confirmed(confirm):
            self.write(f"[{plain(confirm.get('deny')) or 'Cancel'}: nothing was done]")
            return
        if element.get("url"):
            self.write(f"[{name} opens {element['url']} in the browser]")
        action = {"action_id": element.get("action_id"), "block_id": button.block_id or "console",
                  "type": element.get("type", "button"), "text": element.get("text"),
                  "action_ts": f"{time.time():.6f}"}
        if "value" in element:
            action["value"] = element["value"]
        payload = self._interaction("block_actions", container=button.container, state={"values": {}},
                                    actions=[action])
        if button.message is not None:
            payload["channel"] = {"id": button.channel, "name": self.channel_name(button.channel or "")}
            payload["message"] = button.message
            payload["response_url"] = self.response_url(channel=button.channel, where=button.where)
        if button.view is not None:
            payload["view"] = button.view
        status, reply = self._dispatch(form_body(payload), "application/x-www-form-urlencoded")
        if status == 404:
            self.write(f"[console: nothing in opsbot answers the {name} button ({element.get('action_id')})]")
            return
        self._show_ack(status, reply, channel=button.channel or CONSOLE_CHANNEL)
        self.settle()

    def _confirmed(self, confirm: dict[str, Any]) -> bool:
        title = plain(confirm.get("title"))
        text = mrkdwn_to_text(plain(confirm.get("text")), mention=self.mention)
        yes, no = plain(confirm.get("confirm")) or "Yes", plain(confirm.get("deny")) or "No"
        if not self.interactive:
            self.write(f"[{title} {text} → {yes}]")
            return True
        answer = self._ask(f"{title} {text} [{yes.lower()}/{no.lower()}] ")
        return answer is not None and answer.strip().lower() in (yes.lower(), yes.lower()[:1], "y", "yes")

    def open_home(self) -> None:
        body = home_opened(self.user, event_id=f"Ev{next(self._ids):08d}", channel="D0CONSOLE01",
                           app=CONSOLE_IDENTITY)
        status, reply = self._dispatch(body, "application/json")
        if status == 404:
            self.write("[console: opsbot has no App Home]")
            return
        self._show_ack(status, reply, channel=CONSOLE_CHANNEL)
        self.settle()

    # -- forms ---------------------------------------------------------------------------------------
    def show_form(self, form: Form) -> None:
        lines = [f"[form · {form.title}]"]
        for block in form.view.get("blocks", []):
            if block.get("type") != "input":
                lines += render_message(None, [block], mention=self.mention)
                continue
            element = block.get("element") or {}
            optional = " (optional)" if block.get("optional") else ""
            lines.append(f"  {plain(block.get('label'))}{optional}: {_describe_input(element)}")
            chosen = (element.get("initial_option") or {}).get("value")
            if chosen is not None and not element.get("options"):  # a search: only the chosen one is known
                lines.append(f"    {plain(element['initial_option'].get('text'))}  [{chosen}]  ← chosen")
            for i, option in enumerate(element.get("options") or [], 1):
                mark = "  ← chosen" if chosen is not None and option.get("value") == chosen else ""
                lines.append(f"    {i}) {plain(option.get('text'))}  [{option.get('value')}]{mark}")
            if block.get("hint"):
                lines.append(f"    {plain(block['hint'])}")
        submit = plain(form.view.get("submit")) or "Submit"
        names = " ".join(f"{b['block_id']}=…" for b in form.inputs if b.get("block_id"))
        lines.append(f"  [{submit}] with: fill {names}   ·   [{plain(form.view.get('close')) or 'Cancel'}]: cancel")
        if not self.interactive and form.view.get("callback_id") == "log_payment":
            lines.append("  (or use the one-line form: /log-payment EVENT AMOUNT METHOD PATRON…)")
        self.write(*lines)

    def fill(self, assignments: dict[str, str]) -> None:
        if not self._forms:
            raise ConsoleError("no form is open (/log-payment alone opens one)")
        form = self._forms[-1]
        blocks = {b.get("block_id"): b for b in form.inputs}
        for name, answer in assignments.items():
            block = blocks.get(name)
            if block is None:
                raise ConsoleError(f"the form has no field {name!r}; its fields: {', '.join(map(str, blocks))}")
            state, problem = self._state_for(form, block, answer)
            if problem:
                raise ConsoleError(f"{name}: {problem}")
            form.values[name] = state
        self.submit(form)

    def cancel(self) -> None:
        if not self._forms:
            raise ConsoleError("no form is open")
        form = self._forms.pop()
        self.write(f"[form · {form.title} closed]")

    def submit(self, form: Form) -> bool:
        """Send the form as Slack sends a submission; True when the bot closed it."""
        values: dict[str, dict[str, Any]] = {}
        for block in form.inputs:
            element = block.get("element") or {}
            action_id = element.get("action_id", block.get("block_id"))
            state = form.values.get(block["block_id"]) or _initial_state(element)
            values[block["block_id"]] = {action_id: state}
        view = {**form.view, "state": {"values": values}}
        payload = self._interaction("view_submission", view=view, response_urls=[])
        status, reply = self._dispatch(form_body(payload), "application/x-www-form-urlencoded")
        answer = self._show_ack(status, reply, channel=CONSOLE_CHANNEL) if status != 200 or reply.strip() else {}
        action = answer.get("response_action")
        if status == 200 and action == "errors":
            form.errors = {str(k): str(v) for k, v in (answer.get("errors") or {}).items()}
            labels = {b.get("block_id"): plain(b.get("label")) for b in form.inputs}
            self.write(f"[form · {form.title}: not accepted]",
                       *(f"  {labels.get(k, k)}: {mrkdwn_to_text(v)}" for k, v in form.errors.items()))
            self.after_ack()
            return False
        if status == 200 and action in ("update", "push") and isinstance(answer.get("view"), dict):
            assert self.slack is not None
            taken = self.slack.take_view(answer["view"], form.view["id"] if action == "update" else None)
            if not taken.get("ok"):
                self._show_refusal(f"form ({action})", taken)
                self.after_ack()
                return False
            new = Form(taken["view"])
            if action == "update":
                self._forms.remove(form)
            self._forms.append(new)
            self.show_form(new)
            self.after_ack()
            return False
        if form in self._forms:
            self._forms.remove(form)
        if status == 200:
            self.write(f"[form · {form.title} submitted]")
        self.after_ack()
        return status == 200

    def fill_interactively(self, form: Form) -> bool:
        """Ask for each field (only the refused ones after an error) and submit; False when cancelled."""
        ask_for = [b for b in form.inputs if not form.errors or b.get("block_id") in form.errors]
        self.write(f"[form · {form.title}: answer each field; Enter keeps the shown value, 'cancel' closes the form]")
        for block in ask_for:
            element = block.get("element") or {}
            while True:
                current = _shown_value(form.values.get(block["block_id"]) or _initial_state(element))
                optional = " (optional)" if block.get("optional") else ""
                hint = f" [{current}]" if current else ""
                answer = self._ask(f"  {plain(block.get('label'))}{optional}{hint}: ")
                if answer is None or answer.strip().lower() == "cancel":
                    self.cancel()
                    return False
                if not answer.strip():
                    break
                state, problem = self._state_for(form, block, answer.strip())
                if problem:
                    self.write(f"  {problem}")
                    continue
                form.values[block["block_id"]] = state
                break
        form.errors = {}
        self.submit(form)  # refused fields are asked again by the caller's loop
        return True

    def _state_for(self, form: Form, block: dict[str, Any], answer: str) -> tuple[dict[str, Any], str | None]:
        """Slack's view.state element for an answer typed in the console, or a problem.
        An external select is searched as Slack searches it: a block_suggestion to the bot."""
        element = block.get("element") or {}
        if element.get("type") != "external_select":
            return _state_for(element, answer)
        option, problem = _pick(self.suggestions(form, block, answer), answer, numbered=False)
        return {"type": "external_select", "selected_option": option}, problem

    def suggestions(self, form: Form, block: dict[str, Any], query: str) -> list[dict[str, Any]]:
        """The options the bot offers for ``query`` typed in an external select (its block_suggestion answer)."""
        element = block.get("element") or {}
        payload = interaction("block_suggestion", user_id=self.user, user_name="you", trigger_id=None,
                              app=CONSOLE_IDENTITY, container={"type": "view", "view_id": form.view.get("id")},
                              action_id=element.get("action_id"), block_id=block.get("block_id"), value=query,
                              view=form.view)
        status, reply = self._dispatch(form_body(payload), "application/x-www-form-urlencoded")
        try:
            answer = json.loads(reply) if status == 200 and reply.strip() else {}
        except json.JSONDecodeError:
            answer = {}
        if not isinstance(answer, dict):
            answer = {}
        options = list(answer.get("options") or [])
        for group in answer.get("option_groups") or []:
            options += group.get("options") or []
        return options

    def _ask(self, prompt: str) -> str | None:
        try:
            return self.ask(prompt)
        except EOFError:
            return None

    # -- one line -----------------------------------------------------------------------------------
    def handle(self, line: str) -> bool:
        """Do one console line; False when it was not understood."""
        line = line.strip()
        if not line or line.startswith("#"):
            return True
        try:
            if line.startswith("/"):
                command, _, text = line.partition(" ")
                return self.slash_command(command.lower(), text.strip())
            word, _, rest = line.partition(" ")
            word = word.lower()
            if word in ("help", "?"):
                self.write(HELP)
            elif word in ("press", "click"):
                if not rest.strip().isdigit():
                    raise ConsoleError("say which button: press 1")
                self.press(int(rest))
            elif word == "fill":
                self.fill(_assignments(rest))
            elif word == "cancel":
                self.cancel()
            elif word == "home":
                self.open_home()
            elif word == "as":
                self.act_as(rest.strip().lower())
            else:
                raise ConsoleError(f"{word!r} is not a console command; slash commands start with / "
                                   "(type help)")
        except ConsoleError as exc:
            self.write(f"[console: {exc}]")
            return False
        return True

    def act_as(self, who: str) -> None:
        if who == "crew":
            self.user = CONSOLE_CREW
        elif who == "admin":
            self.user = CONSOLE_ADMIN
        else:
            raise ConsoleError("say as crew or as admin")
        self.write(f"[you are now {'a crew member' if who == 'crew' else 'an admin'}]")


# What the console shows of each Web API call the local Slack accepted.
_SHOWN: dict[str, Callable[[Console, dict[str, Any], dict[str, Any]], None]] = {
    "chat.postMessage": Console._show_post,
    "chat.update": Console._show_update,
    "chat.postEphemeral": Console._show_ephemeral,
    "views.open": Console._show_opened_view,
    "views.push": Console._show_opened_view,
    "views.update": Console._show_updated_view,
    "views.publish": Console._show_home,
    "files.completeUploadExternal": Console._show_files,
}


# -- form fields --------------------------------------------------------------------------------


def _describe_input(element: dict[str, Any]) -> str:
    kind = element.get("type")
    if kind in ("static_select", "radio_buttons"):
        return "choose one (a number, or part of the name)"
    if kind == "external_select":
        return "search: type part of the name, id or date"
    if kind == "checkboxes":
        return "choose any (numbers, comma-separated)"
    if kind == "datepicker":
        return "a date, YYYY-MM-DD"
    if kind == "number_input":
        return "a number"
    placeholder = plain(element.get("placeholder"))
    return f"text{f' ({placeholder})' if placeholder else ''}"


def _initial_state(element: dict[str, Any]) -> dict[str, Any]:
    kind = element.get("type")
    if kind in ("static_select", "external_select", "radio_buttons"):
        return {"type": kind, "selected_option": element.get("initial_option")}
    if kind == "checkboxes":
        return {"type": kind, "selected_options": element.get("initial_options") or []}
    if kind == "datepicker":
        return {"type": kind, "selected_date": element.get("initial_date")}
    return {"type": kind or "plain_text_input", "value": element.get("initial_value")}


def _shown_value(state: dict[str, Any]) -> str:
    if state.get("selected_option"):
        return plain(state["selected_option"].get("text"))
    if state.get("selected_options"):
        return ", ".join(plain(o.get("text")) for o in state["selected_options"])
    return str(state.get("selected_date") or state.get("value") or "")


def _pick(options: list[dict[str, Any]], answer: str, *, numbered: bool = True
          ) -> tuple[dict[str, Any] | None, str | None]:
    """The option an answer names: its number (when the options were shown numbered), its value or its text."""
    if numbered and answer.isdigit() and 1 <= int(answer) <= len(options):
        return options[int(answer) - 1], None
    lowered = answer.lower()
    exact = [o for o in options if str(o.get("value", "")).lower() == lowered
             or plain(o.get("text")).lower() == lowered]
    if exact:
        return exact[0], None
    found = [o for o in options  # a search's options were already found by the bot
             if not numbered or lowered in str(o.get("value", "")).lower() or lowered in plain(o.get("text")).lower()]
    if len(found) == 1:
        return found[0], None
    if not numbered:  # a search: say what it found, so the person can give more of one
        if not found:
            return None, f"nothing matches {answer!r}; give part of the name, id or date"
        names = ", ".join(str(o.get("value")) for o in found[:8]) + (", …" if len(found) > 8 else "")
        return None, f"{answer!r} matches {len(found)} choices ({names}); give more of it, or the id"
    if found:
        return None, f"{answer!r} matches {len(found)} choices; give more of it, or its number"
    return None, f"{answer!r} is not one of the choices; give its number (1-{len(options)})"


def _state_for(element: dict[str, Any], answer: str) -> tuple[dict[str, Any], str | None]:
    """Slack's view.state element for an answer typed in the console, or a problem."""
    kind = element.get("type")
    options = list(element.get("options") or [])
    for group in element.get("option_groups") or []:
        options += group.get("options") or []
    if kind in ("static_select", "radio_buttons"):
        option, problem = _pick(options, answer)
        return {"type": kind, "selected_option": option}, problem
    if kind == "checkboxes":
        chosen = []
        for part in (p.strip() for p in answer.split(",") if p.strip()):
            option, problem = _pick(options, part)
            if problem:
                return {}, problem
            chosen.append(option)
        return {"type": kind, "selected_options": chosen}, None
    if kind == "datepicker":
        return {"type": kind, "selected_date": answer}, None
    if kind in ("plain_text_input", "number_input", "email_text_input", "url_text_input", None):
        return {"type": kind or "plain_text_input", "value": answer}, None
    return {}, f"the console cannot fill a {kind} field"


def _assignments(text: str) -> dict[str, str]:
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise ConsoleError(f"cannot read that: {exc}") from None
    result = {}
    for word in words:
        name, sep, value = word.partition("=")
        if not sep or not name:
            raise ConsoleError(f"write each field as name=value, not {word!r}")
        result[name] = value
    if not result:
        raise ConsoleError('say what to fill: fill event=jada amount=500 method=cash patron="Ana Ruiz"')
    return result


# -- the loop -------------------------------------------------------------------------------------


class _OneLine(logging.Formatter):
    """Console logging: one line per problem, no traceback (the transcript stays readable)."""

    def formatException(self, ei: Any) -> str:  # noqa: N802 - the base class's name
        return ""

    def formatStack(self, stack_info: str) -> str:  # noqa: N802 - the base class's name
        return ""

    def format(self, record: logging.LogRecord) -> str:
        record.exc_text = ""
        text = super().format(record)
        if record.exc_info and record.exc_info[1] is not None:
            text += f" ({type(record.exc_info[1]).__name__}: {record.exc_info[1]})"
        return text.rstrip()


def _quiet(record: logging.LogRecord) -> bool:
    """Drop the warnings the console already tells in its own words: Bolt's
    "unhandled request" and the permission check's "not in the table"."""
    said_here = record.name.startswith("slack_bolt") or record.name == "opsbot.access"
    return record.levelno >= logging.ERROR or not said_here


def _configure_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_OneLine("opsbot console: %(levelname)s: %(message)s"))
    handler.addFilter(_quiet)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)


def _readline_lines(console: Console, history: Path) -> Iterable[str]:
    try:
        import readline
    except ImportError:  # Windows without pyreadline: no history, still works
        readline = None  # type: ignore[assignment]
    if readline is not None:
        words = [c.split()[0] for c in ("/log-payment", "/events", "/links", "/paylink", "/deploy", "/opsbot", "press",
                                        "fill", "cancel", "home", "as", "help", "quit")]

        def complete(text: str, state: int) -> str | None:
            matches = [w for w in words if w.startswith(text)]
            return matches[state] if state < len(matches) else None

        readline.set_completer(complete)
        readline.set_completer_delims(" ")
        readline.parse_and_bind("tab: complete")
        with contextlib.suppress(OSError):  # no history yet
            readline.read_history_file(history)
    try:
        while True:
            try:
                line = input("opsbot> ")
            except EOFError:
                console.write("")
                return
            except KeyboardInterrupt:
                console.write("^C (quit to leave)")
                continue
            yield line
    finally:
        if readline is not None:
            try:
                readline.write_history_file(history)
            except OSError as exc:
                logging.getLogger("opsbot.console").warning("could not save the history to %s: %s", history, exc)


def run_console(settings: Settings, *, stdin: TextIO | None = None, out: TextIO | None = None,
                interactive: bool | None = None, history: Path | None = None) -> int:
    """The ``opsbot console`` loop. Interactive on a terminal (history, forms
    asked field by field); otherwise one line per command from stdin, echoed,
    until EOF. Exit status 0, or 1 when some line was not understood."""
    stdin = stdin or sys.stdin
    interactive = stdin.isatty() if interactive is None else interactive
    _configure_logging()
    console = Console(settings, out=out, interactive=interactive)
    understood = True
    try:
        console.start()
        console.write(console.banner())
        if interactive:
            lines: Iterable[str] = _readline_lines(console, history or Path.home() / HISTORY_FILE)
        else:
            lines = (line.rstrip("\n") for line in stdin)
        for line in lines:
            if line.strip().lower() in ("quit", "exit"):
                break
            if not interactive and line.strip() and not line.lstrip().startswith("#"):
                console.write(f"> {line.strip()}")
            understood = console.handle(line) and understood
    finally:
        console.close()
    return 0 if understood or interactive else 1
