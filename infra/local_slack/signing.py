"""Sign requests the way Slack does, and build the payloads Slack sends."""

from __future__ import annotations

import hashlib
import hmac
import time
from urllib.parse import urlencode

from infra.local_slack.web_api import TEAM_ID, TEST_IDENTITY, SlackIdentity

# What Slack puts in "token" (the deprecated verification token); Bolt ignores it.
VERIFICATION_TOKEN = "gIkuvaNzQIHg97ATvDxqgjtO"
DEFAULT_CHANNEL_ID = "C0OPS000001"
DEFAULT_USER_ID = "U0CREW00001"
DEFAULT_TRIGGER_ID = "13345224609.738474920.8088930838d88f008e0"
# Port 9 (discard) on loopback: a listener that responds by URL without a test
# saying where fails fast instead of reaching the internet.
DEFAULT_RESPONSE_URL = f"http://127.0.0.1:9/response/commands/{TEAM_ID}/1700000000/notconfigured"


def signature(body: str, secret: str, timestamp: int) -> str:
    base = f"v0:{timestamp}:{body}".encode()
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def signed_headers(body: str, secret: str, timestamp: int | None = None,
                   content_type: str = "application/x-www-form-urlencoded") -> dict[str, str]:
    """Headers Slack sends with ``body``: timestamp (now by default) and v0 signature."""
    ts = int(time.time()) if timestamp is None else timestamp
    return {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": str(ts),
        "X-Slack-Signature": signature(body, secret, ts),
    }


def slack_escape(text: str) -> str:
    """What Slack does to the text a person types before it sends it: ``&``, ``<``, ``>`` escaped."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slash_command_body(command: str, text: str = "", *, user_id: str = DEFAULT_USER_ID,
                       user_name: str = "crew.member", channel_id: str = DEFAULT_CHANNEL_ID,
                       channel_name: str = "ops", trigger_id: str = DEFAULT_TRIGGER_ID,
                       response_url: str = DEFAULT_RESPONSE_URL, team_id: str | None = None,
                       enterprise_id: str | None = None, app: SlackIdentity = TEST_IDENTITY) -> str:
    """A urlencoded slash command payload with every field Slack sends; ``text``
    is what the person typed, sent escaped as Slack sends it. ``app`` says where the app
    is installed (the tests' workspace by default). ``team_id`` (and, on Enterprise Grid,
    ``enterprise_id``) say where the person ran the command: another organisation's team
    for a member of a Slack Connect channel; the app's own by default."""
    team_id = team_id or app.team_id
    fields = {
        "token": VERIFICATION_TOKEN,
        "team_id": team_id,
        "team_domain": app.team_domain if team_id == app.team_id else f"other-{team_id.lower()}",
        "channel_id": channel_id,
        "channel_name": channel_name,
        "user_id": user_id,
        "user_name": user_name,
        "command": command,
        "text": slack_escape(text),
    }
    if enterprise_id:
        fields |= {"enterprise_id": enterprise_id, "enterprise_name": f"Org {enterprise_id}"}
    return urlencode({
        **fields,
        "api_app_id": app.app_id,
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": trigger_id,
    })
