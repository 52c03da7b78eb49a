"""A local stand-in for the Slack Web API (and for response_url posts): the project's only one.
The console answers the bot with it at run time (an ``observer`` shows each call), the tests
record and script every call, the benchmarks run it in a process of their own and count. It says
it is installed where its ``SlackIdentity`` says (the tests' workspace by default).

A real HTTP server on 127.0.0.1, so the bot's real ``slack_sdk.WebClient``
talks to it over the wire exactly as it talks to slack.com: point
``OPSBOT_SLACK_API_URL`` at ``base_url``. Every call is recorded; tests read
them with ``calls()`` or block on ``wait_for()`` (a Condition, not polling).
Failures are scripted per method with ``fail_next()`` / ``rate_limit_next()``.
``pace_channels()`` turns on Slack's own limit for chat.postMessage (about one
message a second per channel, 429 with Retry-After beyond it); ``after_applying()``
runs a hook once a call has taken effect, before it is answered (to kill the
caller at that moment).

It refuses what Slack refuses: every message (chat.postMessage, chat.update,
chat.postEphemeral, response_url posts) and every view (views.open, .update,
.push, .publish) is checked against Block Kit's documented limits
(infra/local_slack/block_kit_limits.py) and answered ``invalid_blocks`` /
``invalid_arguments`` with the violations in ``response_metadata``, as Slack
answers. ``auth.test`` says which team (and Enterprise Grid organisation) the
bot is installed in: ``team_id`` / ``enterprise_id``.

Posting to a user ID opens the app's direct message with that person, and the
answer names its ``D…`` channel, as Slack's does. Files go in as slack_sdk's
``files_upload_v2`` sends them: ``files.getUploadURLExternal`` (form-encoded,
``filename`` and ``length``; needs ``files:write``) answers an upload URL here and
a file id; the bytes are POSTed raw to that URL (no token; answered ``OK - <n>``
as text); ``files.completeUploadExternal`` shares the uploaded files in a channel
given by id (``C``/``G``/``D``/``Z``…, never a user ID: ``invalid_arguments``, as
Slack answers), or keeps them private without one. A file never uploaded, or
uploaded with another length than announced, is refused (``file_not_found`` /
``invalid_arguments``). ``uploaded()`` lists what was shared.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from infra.local_slack.block_kit_limits import message_problems, message_text_too_long, refusal, view_problems
from infra.local_slack.loopback import LoopbackServer

TEAM_ID = "T0TEAM00001"
TEAM_DOMAIN = "opsbot-test"
BOT_USER_ID = "U0BOT000001"
BOT_ID = "B0BOT000001"
APP_ID = "A0APP000001"
RESPONSE_URL_METHOD = "response_url"  # the method name recorded for response_url posts
UPLOAD_URL_METHOD = "upload_url"  # the method name recorded for POSTs to a files.getUploadURLExternal URL
DEFAULT_SCOPES = ("channels:history", "channels:read", "chat:write", "commands", "files:write", "groups:history",
                  "groups:read")  # manifest.json's
# The scope a method needs where the stand-in checks it (Slack answers missing_scope without it).
METHOD_SCOPES = {"files.getUploadURLExternal": "files:write", "files.completeUploadExternal": "files:write"}
_CHANNEL_ID = re.compile(r"^[CGDZ][A-Z0-9]{8,}$")  # files.completeUploadExternal's channel_id pattern

# Form-encoded Web API calls carry these as JSON strings.
_JSON_FIELDS = ("blocks", "attachments", "view", "metadata")


@dataclass(frozen=True)
class SlackIdentity:
    """Where the stand-in says the bot is installed: its workspace, and the bot's and app's ids."""

    team_id: str = TEAM_ID
    team_domain: str = TEAM_DOMAIN
    team_name: str = "Opsbot Test"
    bot_user_id: str = BOT_USER_ID
    bot_id: str = BOT_ID
    app_id: str = APP_ID


TEST_IDENTITY = SlackIdentity()


@dataclass(frozen=True)
class SlackCall:
    method: str  # "chat.postMessage", ... or "response_url"
    path: str
    params: dict[str, Any]  # the parsed form or JSON body (plus query parameters)
    headers: dict[str, str]  # lower-case names
    status: int  # the HTTP status the stand-in answered
    response: Any  # the JSON (or text) the stand-in answered
    at: float = 0.0  # time.monotonic() when it arrived, to see how long a client waited between tries

    @property
    def token(self) -> str | None:
        auth = self.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            return auth[7:].strip()
        return self.params.get("token")


@dataclass
class UploadedFile:
    """A file as files.getUploadURLExternal announced it, what was POSTed to its URL, and where it was shared."""

    file_id: str
    filename: str
    length: int  # the length announced
    token: str
    data: bytes | None = None  # the bytes POSTed to the upload URL
    title: str | None = None
    channel: str | None = None  # where files.completeUploadExternal shared it
    initial_comment: str | None = None
    completed: bool = False


@dataclass
class _Scripted:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    applied: bool = False  # the call takes effect (a message is posted) although this is what is answered


class SlackApiStandIn(LoopbackServer):
    """``observer`` is called with every call once it is answered (in the server's thread, before the
    answer is sent): the console shows what the bot sent through it. ``keep_calls=False`` keeps no
    recording (the benches count through an observer instead). ``extra_routes`` answers a GET of
    its path with what its function returns, as JSON, unrecorded (the benches' counts)."""

    def __init__(self, identity: SlackIdentity = TEST_IDENTITY, *,
                 observer: Callable[[SlackCall], None] | None = None, keep_calls: bool = True,
                 extra_routes: dict[str, Callable[[], Any]] | None = None) -> None:
        self.identity = identity
        self.observer = observer
        self.keep_calls = keep_calls
        self.extra_routes = dict(extra_routes or {})
        self._cond = threading.Condition()
        self._calls: list[SlackCall] = []
        self._script: dict[str, deque[_Scripted]] = {}
        self._last_ts = 0.0
        self._history: dict[str, list[dict[str, Any]]] = {}  # channel -> messages posted, oldest first
        self._view_ids = itertools.count(1)
        self._views: dict[str, dict[str, Any]] = {}
        self._home_views: dict[str, str] = {}  # user -> view id
        self.users: dict[str, dict[str, Any]] = {}  # extra/overriding users.info answers
        self.channels: dict[str, dict[str, Any]] = {}  # extra/overriding conversations.info answers
        # The bot token's scopes, sent as Slack sends them: the x-oauth-scopes header of every answer.
        self.scopes: tuple[str, ...] = DEFAULT_SCOPES
        self._pace: float | None = None  # seconds between two chat.postMessage in one channel; None: off
        self._last_post: dict[str, float] = {}  # channel -> monotonic time of its last accepted post
        self._hooks: dict[str, Callable[[SlackCall], None]] = {}
        # Where the bot is installed, as auth.test says: its workspace and, on Enterprise Grid, its organisation.
        self.team_id = identity.team_id
        self.enterprise_id: str | None = None
        self._files: dict[str, UploadedFile] = {}  # file id -> the file
        self._upload_urls: dict[str, str] = {}  # the opaque part of an upload URL -> file id
        self._file_ids = itertools.count(1)
        self._ims: dict[str, str] = {}  # user -> the app's direct message channel with them

    thread_name = "slack-api-stand-in"

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        return _handler_for(self)

    @property
    def base_url(self) -> str:
        """The Web API base URL, for OPSBOT_SLACK_API_URL / WebClient(base_url=...)."""
        return self.root_url + "/api/"

    def response_url(self, name: str = f"{TEAM_ID}/1700000000/abcdefghijklmnop") -> str:
        """A response_url that lands here (recorded as method ``response_url``)."""
        return f"{self.root_url}/response/{name}"

    # -- recordings ------------------------------------------------------------------------
    def calls(self, method: str | None = None) -> list[SlackCall]:
        with self._cond:
            return [c for c in self._calls if method is None or c.method == method]

    def wait_for(self, method: str, *, count: int = 1, timeout: float = 5.0,
                 where: Callable[[SlackCall], bool] | None = None) -> SlackCall:
        """Block until ``count`` matching calls were made; return the count-th.
        Raises AssertionError naming what was seen when ``timeout`` passes first."""

        def matching() -> list[SlackCall]:
            return [c for c in self._calls if c.method == method and (where is None or where(c))]

        with self._cond:
            if not self._cond.wait_for(lambda: len(matching()) >= count, timeout=timeout):
                seen = [c.method for c in self._calls]
                raise AssertionError(
                    f"no {count} call(s) to {method} within {timeout}s; calls so far: {seen}"
                )
            return matching()[count - 1]

    def uploaded(self) -> list[UploadedFile]:
        """The files shared by files.completeUploadExternal, in order."""
        with self._cond:
            return [f for f in self._files.values() if f.completed]

    def im_channel(self, user: str) -> str | None:
        """The app's direct message channel with ``user``, once a message opened it."""
        with self._cond:
            return self._ims.get(user)

    def reset(self) -> None:
        with self._cond:
            self._calls.clear()
            self._script.clear()

    # -- scripted failures -------------------------------------------------------------------
    def fail_next(self, method: str, error: str = "channel_not_found", *, times: int = 1,
                  status: int = 200, headers: dict[str, str] | None = None, applied: bool = False) -> None:
        """The next ``times`` calls of ``method`` answer ``{"ok": false, "error": error}``; with
        ``applied`` the call takes effect all the same (Slack's ``internal_error`` warns of that)."""
        self.script_next(method, status, {"ok": False, "error": error}, times=times, headers=headers,
                         applied=applied)

    def rate_limit_next(self, method: str, *, times: int = 1, retry_after: int = 1) -> None:
        """The next ``times`` calls of ``method`` answer 429 with Retry-After."""
        self.script_next(method, 429, {"ok": False, "error": "ratelimited"}, times=times,
                         headers={"Retry-After": str(retry_after)})

    def pace_channels(self, per_second: float = 1.0) -> None:
        """Rate-limit chat.postMessage as Slack does: a channel takes one message per
        ``1 / per_second`` seconds; a post sooner is refused with 429 and a Retry-After (whole
        seconds, at least 1) and is not posted. No bursts: stricter than Slack, never kinder."""
        with self._cond:
            self._pace = 1.0 / per_second

    def after_applying(self, method: str, hook: Callable[[SlackCall], None]) -> None:
        """Run ``hook`` once, for the next successful call of ``method``: after it took effect
        (and was recorded), before it is answered."""
        with self._cond:
            self._hooks[method] = hook

    def script_next(self, method: str, status: int, body: Any, *, times: int = 1,
                    headers: dict[str, str] | None = None, applied: bool = False) -> None:
        """The next ``times`` calls of ``method`` answer ``status`` and ``body``; with ``applied``
        the call is carried out first (the message is posted, the answer lost or wrong)."""
        with self._cond:
            queue = self._script.setdefault(method, deque())
            queue.extend(_Scripted(status, body, dict(headers or {}), applied) for _ in range(times))

    def take_view(self, view: Any, view_id: str | None = None) -> dict[str, Any]:
        """A view an app answered a view_submission with (``response_action`` ``update`` of ``view_id``,
        or ``push``), checked as Slack checks it: ``{"ok": True, "view": ...}`` or Slack's refusal."""
        with self._cond:
            refused = _view_refusal(view)
            if refused:
                return refused
            if view_id is not None and view_id not in self._views:
                return {"ok": False, "error": "not_found"}
            previous = self._views.get(view_id) if view_id is not None else None
            return {"ok": True, "view": self._view(view_id or self._next_view_id(), view, previous)}

    # -- answering ----------------------------------------------------------------------------
    def _handle(self, http_method: str, path: str, query: str, headers: dict[str, str], raw: bytes
                ) -> tuple[int, Any, dict[str, str]]:
        if http_method == "GET" and path in self.extra_routes:
            return 200, self.extra_routes[path](), {}
        params = _parse_params(query, headers.get("content-type", ""), raw)
        if path.startswith("/api/"):
            method = path[len("/api/"):]
        elif path.startswith("/response/"):
            method = RESPONSE_URL_METHOD
        elif path.startswith("/upload/v1/"):
            method = UPLOAD_URL_METHOD
        else:
            method = ""
        with self._cond:
            scripted = self._script.get(method)
            if scripted:
                step = scripted.popleft()
                if step.applied:
                    self._answer(method, params, headers)
                status, body, extra = step.status, step.body, step.headers
            elif method == RESPONSE_URL_METHOD:
                status, body, extra = _response_url_answer(params)
            elif method == UPLOAD_URL_METHOD:
                status, body, extra = self._receive_upload(http_method, path[len("/upload/v1/"):], raw)
            elif not method:
                status, body, extra = 404, {"ok": False, "error": "not_found"}, {}
            elif (wait := self._paced(method, params)) is not None:
                status, body = 429, {"ok": False, "error": "ratelimited"}
                extra = {"Retry-After": str(wait)}
            else:
                status, body = 200, self._answer(method, params, headers)
                extra = {"x-oauth-scopes": ",".join(self.scopes)} if body.get("ok") else {}
                if method == "chat.postMessage" and body.get("ok"):
                    self._last_post[params["channel"]] = time.monotonic()
            call = SlackCall(method, path, params, headers, status, body, time.monotonic())
            if self.keep_calls:
                self._calls.append(call)
            self._cond.notify_all()
            hook = self._hooks.pop(method, None) if status == 200 and isinstance(body, dict) and body.get("ok") \
                else None
        if hook is not None:
            hook(call)
        if self.observer is not None:
            self.observer(call)
        return status, body, extra

    def _paced(self, method: str, params: dict[str, Any]) -> int | None:
        """Seconds to wait when pacing refuses this post (called with the lock held), else None."""
        if self._pace is None or method != "chat.postMessage" or not params.get("channel"):
            return None
        last = self._last_post.get(params["channel"])
        if last is None:
            return None
        left = last + self._pace - time.monotonic()
        return max(1, math.ceil(left)) if left > 0 else None

    def _answer(self, method: str, params: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
        handler = _METHODS.get(method)
        file_handler = _FILE_METHODS.get(method)
        if handler is None and file_handler is None:
            return {"ok": False, "error": "unknown_method"}
        auth = headers.get("authorization", "")
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else str(params.get("token") or "")
        if not token:
            return {"ok": False, "error": "not_authed"}
        needed = METHOD_SCOPES.get(method)
        if needed and needed not in self.scopes:
            return {"ok": False, "error": "missing_scope", "needed": needed, "provided": ",".join(self.scopes)}
        if file_handler is not None:
            return file_handler(self, params, headers, token)
        assert handler is not None
        return handler(self, params)

    def _next_ts(self) -> str:
        # Slack's ts is the time the message was posted (microseconds), unique in its channel.
        self._last_ts = max(round(time.time(), 6), round(self._last_ts + 0.000001, 6))
        return f"{self._last_ts:.6f}"

    def _next_view_id(self) -> str:
        return f"V{next(self._view_ids):010d}"

    # -- methods (called with the lock held) --------------------------------------------------
    def _apps_connections_open(self, params: dict[str, Any]) -> dict[str, Any]:
        # Called with the app-level token; the URL is never opened by the tests.
        return {"ok": True, "url": "wss://127.0.0.1:9/link/?ticket=opsbot-test"}

    def _auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        me = self.identity
        answer = {"ok": True, "url": f"https://{me.team_domain}.slack.com/", "team": me.team_name,
                  "user": "opsbot", "team_id": self.team_id, "user_id": me.bot_user_id, "bot_id": me.bot_id,
                  "is_enterprise_install": False}
        if self.enterprise_id:
            answer["enterprise_id"] = self.enterprise_id
        return answer

    def _message(self, params: dict[str, Any], ts: str) -> dict[str, Any]:
        me = self.identity
        message = {"type": "message", "user": me.bot_user_id, "bot_id": me.bot_id, "app_id": me.app_id,
                   "text": params.get("text", ""), "ts": ts, "team": me.team_id}
        for key in ("blocks", "attachments", "thread_ts", "metadata"):
            if params.get(key) is not None:
                message[key] = params[key]
        return message

    def _post_message(self, params: dict[str, Any]) -> dict[str, Any]:
        if not params.get("channel"):
            return {"ok": False, "error": "channel_not_found"}
        if not params.get("text") and not params.get("blocks") and not params.get("attachments"):
            return {"ok": False, "error": "no_text"}
        refused = _message_refusal(params)
        if refused:
            return refused
        ts = self._next_ts()
        channel = str(params["channel"])
        if channel[:1] in "UW":  # a user ID: the app's direct message with them, answered by its own id
            channel = self._ims.setdefault(channel, "D" + channel[1:])
        message = self._message(params, ts)
        self._history.setdefault(channel, []).append(message)
        return {"ok": True, "channel": channel, "ts": ts, "message": message}

    def _get_upload_url(self, params: dict[str, Any], headers: dict[str, str], token: str) -> dict[str, Any]:
        if "json" in headers.get("content-type", "").lower():
            # Slack reads this method's arguments from a form (or the query): a JSON body is missing them.
            return {"ok": False, "error": "invalid_arguments",
                    "response_metadata": {"messages": ["[ERROR] missing required field: filename",
                                                       "[ERROR] missing required field: length"]}}
        filename, length = str(params.get("filename") or ""), str(params.get("length") or "")
        if not filename.strip() or not length.isdigit() or int(length) <= 0:
            return {"ok": False, "error": "invalid_arguments"}
        file_id = f"F{next(self._file_ids):010d}"
        opaque = secrets.token_urlsafe(24)
        self._files[file_id] = UploadedFile(file_id, filename, int(length), token)
        self._upload_urls[opaque] = file_id
        return {"ok": True, "upload_url": f"{self.root_url}/upload/v1/{opaque}", "file_id": file_id}

    def _receive_upload(self, http_method: str, opaque: str, raw: bytes) -> tuple[int, Any, dict[str, str]]:
        file_id = self._upload_urls.get(opaque)
        if http_method != "POST" or file_id is None:
            return 404, "Not Found", {}
        self._files[file_id].data = raw
        return 200, f"OK - {len(raw)}", {}

    def _complete_upload(self, params: dict[str, Any], headers: dict[str, str], token: str) -> dict[str, Any]:
        try:
            files = json.loads(params.get("files") or "")
        except (json.JSONDecodeError, TypeError):
            return {"ok": False, "error": "invalid_arguments"}
        if not isinstance(files, list) or not files or not all(isinstance(f, dict) and f.get("id") for f in files):
            return {"ok": False, "error": "invalid_arguments"}
        channel = params.get("channel_id") or None
        if channel is not None and not _CHANNEL_ID.match(str(channel)):
            return {"ok": False, "error": "invalid_arguments", "response_metadata": {"messages": [
                "[ERROR] input must match regex pattern: ^[CGDZ][A-Z0-9]{8,}$ [json-pointer:/channel_id]"]}}
        if channel is not None and str(channel).startswith("D") and channel not in self._ims.values():
            return {"ok": False, "error": "channel_not_found"}
        chosen = [self._files.get(str(f["id"])) for f in files]
        for entry, wanted in zip(chosen, files, strict=True):
            if entry is None or entry.token != token or entry.data is None or entry.completed:
                return {"ok": False, "error": "file_not_found"}
            if len(entry.data) != entry.length:
                return {"ok": False, "error": "invalid_arguments", "response_metadata": {"messages": [
                    f"[ERROR] {wanted['id']}: {len(entry.data)} bytes were uploaded, {entry.length} announced"]}}
        for entry, wanted in zip(chosen, files, strict=True):
            assert entry is not None
            entry.title = str(wanted.get("title") or entry.filename)
            entry.channel, entry.initial_comment, entry.completed = channel, params.get("initial_comment"), True
        return {"ok": True, "files": [{"id": e.file_id, "title": e.title} for e in chosen if e is not None]}

    def _update(self, params: dict[str, Any]) -> dict[str, Any]:
        if not params.get("channel"):
            return {"ok": False, "error": "channel_not_found"}
        if not params.get("ts"):
            return {"ok": False, "error": "message_not_found"}
        refused = _message_refusal(params)
        if refused:
            return refused
        return {"ok": True, "channel": params["channel"], "ts": params["ts"], "text": params.get("text", ""),
                "message": self._message(params, params["ts"])}

    def _conversations_history(self, params: dict[str, Any]) -> dict[str, Any]:
        """Newest first, from ``oldest`` on, ``limit`` a page (cursor: an offset); metadata only with
        ``include_all_metadata``. Needs channels:history (groups:history for a private channel)."""
        channel = params.get("channel", "")
        needed = "groups:history" if channel.startswith("G") else "channels:history"
        if needed not in self.scopes:
            return {"ok": False, "error": "missing_scope", "needed": needed, "provided": ",".join(self.scopes)}
        if not channel or channel[0] not in "CGD":
            return {"ok": False, "error": "channel_not_found"}
        oldest = float(params.get("oldest") or 0)
        messages = [m for m in reversed(self._history.get(channel, [])) if float(m["ts"]) > oldest]
        start = int(params.get("cursor") or 0)
        limit = min(int(params.get("limit") or 100), 999)
        page = messages[start : start + limit]
        with_metadata = str(params.get("include_all_metadata", "")).lower() in ("1", "true")
        page = [m if with_metadata else {k: v for k, v in m.items() if k != "metadata"} for m in page]
        more = start + limit < len(messages)
        return {"ok": True, "messages": page, "has_more": more,
                "response_metadata": {"next_cursor": str(start + limit) if more else ""}}

    def _post_ephemeral(self, params: dict[str, Any]) -> dict[str, Any]:
        if not params.get("channel"):
            return {"ok": False, "error": "channel_not_found"}
        if not params.get("user"):
            return {"ok": False, "error": "user_not_in_channel"}
        refused = _message_refusal(params)
        if refused:
            return refused
        return {"ok": True, "message_ts": self._next_ts()}

    def _view(self, view_id: str, submitted: Any, previous: dict[str, Any] | None = None) -> dict[str, Any]:
        view = dict(submitted) if isinstance(submitted, dict) else {}
        base = {
            "id": view_id, "team_id": self.identity.team_id, "type": view.get("type", "modal"), "blocks": [],
            "private_metadata": "", "callback_id": "", "state": {"values": {}}, "hash": f"1700000000.{view_id}",
            "clear_on_close": False, "notify_on_close": False, "close": None, "submit": None,
            "previous_view_id": None, "root_view_id": (previous or {}).get("root_view_id", view_id),
            "app_id": self.identity.app_id, "external_id": "", "app_installed_team_id": self.identity.team_id,
            "bot_id": self.identity.bot_id,
        }
        base.update(view)
        self._views[view_id] = base
        return base

    def _views_open(self, params: dict[str, Any], root: dict[str, Any] | None = None) -> dict[str, Any]:
        if not params.get("trigger_id"):
            return {"ok": False, "error": "invalid_arguments"}
        refused = _view_refusal(params.get("view"))
        if refused:
            return refused
        return {"ok": True, "view": self._view(self._next_view_id(), params["view"], root)}

    def _views_push(self, params: dict[str, Any]) -> dict[str, Any]:
        """A view on top of the open one (its root)."""
        return self._views_open(params, root=next(iter(self._views.values()), None))

    def _views_update(self, params: dict[str, Any]) -> dict[str, Any]:
        view_id = params.get("view_id")
        if not view_id and params.get("external_id"):
            view_id = next((i for i, v in self._views.items() if v.get("external_id") == params["external_id"]), None)
        if not view_id or view_id not in self._views:
            return {"ok": False, "error": "not_found"}
        refused = _view_refusal(params.get("view"))
        if refused:
            return refused
        return {"ok": True, "view": self._view(view_id, params["view"], self._views[view_id])}

    def _views_publish(self, params: dict[str, Any]) -> dict[str, Any]:
        user = params.get("user_id")
        if not user:
            return {"ok": False, "error": "invalid_arguments"}
        refused = _view_refusal({"type": "home", **params["view"]} if isinstance(params.get("view"), dict) else None)
        if refused:
            return refused
        view_id = self._home_views.setdefault(user, self._next_view_id())
        return {"ok": True, "view": self._view(view_id, {"type": "home", **params["view"]})}

    def _conversations_info(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = params.get("channel", "")
        if channel in self.channels:
            return {"ok": True, "channel": self.channels[channel]}
        if not channel or channel[0] not in "CGD":
            return {"ok": False, "error": "channel_not_found"}
        return {"ok": True, "channel": {
            "id": channel, "name": f"channel-{channel.lower()}", "is_channel": channel[0] == "C",
            "is_group": channel[0] == "G", "is_im": channel[0] == "D", "is_private": channel[0] != "C",
            "is_archived": False, "is_member": True, "created": 1700000000,
            "context_team_id": self.identity.team_id,
        }}

    def _users_info(self, params: dict[str, Any]) -> dict[str, Any]:
        user = params.get("user", "")
        if user in self.users:
            return {"ok": True, "user": self.users[user]}
        if not user or user[0] not in "UW":
            return {"ok": False, "error": "user_not_found"}
        name = f"user-{user.lower()}"
        return {"ok": True, "user": {
            "id": user, "team_id": self.identity.team_id, "name": name, "real_name": name, "deleted": False,
            "is_admin": False, "is_owner": False, "is_bot": False, "tz": "America/Los_Angeles",
            "profile": {"real_name": name, "display_name": name, "team": self.identity.team_id},
        }}


_METHODS: dict[str, Callable[[SlackApiStandIn, dict[str, Any]], dict[str, Any]]] = {
    "auth.test": SlackApiStandIn._auth_test,
    "chat.postMessage": SlackApiStandIn._post_message,
    "chat.update": SlackApiStandIn._update,
    "conversations.history": SlackApiStandIn._conversations_history,
    "chat.postEphemeral": SlackApiStandIn._post_ephemeral,
    "views.open": SlackApiStandIn._views_open,
    "views.push": SlackApiStandIn._views_push,
    "views.update": SlackApiStandIn._views_update,
    "views.publish": SlackApiStandIn._views_publish,
    "conversations.info": SlackApiStandIn._conversations_info,
    "users.info": SlackApiStandIn._users_info,
    "apps.connections.open": SlackApiStandIn._apps_connections_open,
}
# Methods whose answer depends on the request's headers and token (a file belongs to the token that announced it).
_FILE_METHODS: dict[str, Callable[[SlackApiStandIn, dict[str, Any], dict[str, str], str], dict[str, Any]]] = {
    "files.getUploadURLExternal": SlackApiStandIn._get_upload_url,
    "files.completeUploadExternal": SlackApiStandIn._complete_upload,
}


def _message_refusal(params: dict[str, Any]) -> dict[str, Any] | None:
    """Slack's refusal of a message over Block Kit's limits, or None when it fits."""
    if message_text_too_long(params):
        return {"ok": False, "error": "msg_too_long"}
    problems = message_problems(params)
    return refusal("invalid_blocks", problems) if problems else None


def _view_refusal(view: Any) -> dict[str, Any] | None:
    problems = view_problems(view)
    return refusal("invalid_arguments", problems) if problems else None


def _response_url_answer(params: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
    """A response_url post: "ok", or (as Slack's webhook URLs answer a refused
    message) HTTP 400 naming the error; the message is then never shown."""
    if message_text_too_long(params):
        return 400, {"ok": False, "error": "msg_too_long"}, {}
    problems = message_problems(params)
    if problems:
        return 400, refusal("invalid_blocks", problems), {}
    return 200, "ok", {}


def _parse_params(query: str, content_type: str, raw: bytes) -> dict[str, Any]:
    params: dict[str, Any] = dict(parse_qsl(query, keep_blank_values=True))
    text = raw.decode("utf-8", errors="replace")
    if "json" in content_type.lower():
        try:
            body = json.loads(text) if text.strip() else {}
        except json.JSONDecodeError:
            body = {"_unparsable_body": text}
        params.update(body if isinstance(body, dict) else {"_body": body})
    elif text:
        params.update(parse_qsl(text, keep_blank_values=True))
        for key in _JSON_FIELDS:
            if isinstance(params.get(key), str):
                with contextlib.suppress(json.JSONDecodeError):
                    params[key] = json.loads(params[key])
    return params


def _handler_for(stand_in: SlackApiStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            url = urlsplit(self.path)
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, body, extra = stand_in._handle(self.command, url.path, url.query, headers, raw)
            if isinstance(body, str):
                payload, content_type = body.encode("utf-8"), "text/plain; charset=utf-8"
            else:
                payload, content_type = json.dumps(body).encode("utf-8"), "application/json; charset=utf-8"
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            for name, value in extra.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        do_POST = _serve
        do_GET = _serve

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
            """Silent: every call is recorded in .calls(); stderr lines would only clutter test output."""

    return Handler
