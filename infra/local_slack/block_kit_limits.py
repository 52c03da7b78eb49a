"""Block Kit's documented limits, as Slack enforces them: the table the Slack
stand-in refuses by (infra/local_slack/web_api.py) and the test client checks
every acknowledgement against (tests/slack_bot.py).

Every figure is from Slack's Block Kit reference (docs.slack.dev/reference/
block-kit/...: blocks, block elements, composition objects, views) and the
Web API method pages; the page is named beside each group. Lengths are counted
as Slack counts them: characters of the text as sent, so an escaped ``&amp;``
is five. A violation is reported the way Slack reports it, with a JSON pointer
to the offending field: ``must be at most 3000 characters, is 3012
[json-pointer:/blocks/2/text/text]``.

Deliberately not here: ``msg_blocks_too_long``, a cumulative text limit that
Slack applies to chat.postMessage but does not document (a maintainer gave
"12,000 text characters with a buffer" in slackapi/bolt-js#2509; users measured
other figures), so no exact table row can be written for it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

# -- surfaces (docs.slack.dev/reference/block-kit/blocks; .../views/modal-views, .../views/home-tab-views) --
MESSAGE_BLOCKS = 50  # "You can include up to 50 blocks in each message"
VIEW_BLOCKS = 100  # "... and 100 blocks in modals or Home tabs"
MESSAGE_TEXT = 40_000  # chat.postMessage: longer text is refused (msg_too_long) or cut
MODAL_TITLE = 24
MODAL_SUBMIT = 24
MODAL_CLOSE = 24
PRIVATE_METADATA = 3000
CALLBACK_ID = 255
EXTERNAL_ID = 255

# -- blocks (docs.slack.dev/reference/block-kit/blocks/*) --------------------------------------
BLOCK_ID = 255
SECTION_TEXT = 3000
SECTION_FIELDS = 10
SECTION_FIELD_TEXT = 2000
HEADER_TEXT = 150
CONTEXT_ELEMENTS = 10
ACTIONS_ELEMENTS = 25
INPUT_LABEL = 2000
INPUT_HINT = 2000
IMAGE_URL = 3000
IMAGE_ALT_TEXT = 2000
IMAGE_TITLE = 2000

# -- composition objects (docs.slack.dev/reference/block-kit/composition-objects/*) --------------
TEXT_OBJECT = 3000  # any text object: "minimum length is 1 and maximum length is 3000"
CONFIRM_TITLE = 100
CONFIRM_TEXT = 300
CONFIRM_BUTTON = 30  # confirm and deny
OPTION_TEXT = 75
OPTION_VALUE = 150
OPTION_DESCRIPTION = 75
OPTION_GROUP_LABEL = 75
OPTION_GROUP_OPTIONS = 100

# -- block elements (docs.slack.dev/reference/block-kit/block-elements/*) ------------------------
ACTION_ID = 255
BUTTON_TEXT = 75
BUTTON_VALUE = 2000
BUTTON_URL = 3000
ACCESSIBILITY_LABEL = 75
SELECT_OPTIONS = 100
SELECT_OPTION_GROUPS = 100
PLACEHOLDER = 150
TEXT_INPUT_LENGTH = 3000  # min_length / max_length of a plain_text_input: 0..3000 / 1..3000
OVERFLOW_OPTIONS = (2, 5)

# The answer to a block_suggestion (an external select's options): "options ... Maximum of 100".
SUGGESTION_OPTIONS = 100

MESSAGE_BLOCK_TYPES = {"section", "header", "context", "actions", "divider", "image", "rich_text", "markdown",
                       "video", "file"}
VIEW_BLOCK_TYPES = MESSAGE_BLOCK_TYPES - {"file", "markdown"} | {"input"}
SELECTS = {"static_select", "external_select", "users_select", "conversations_select", "channels_select",
           "multi_static_select", "multi_external_select", "multi_users_select", "multi_conversations_select",
           "multi_channels_select"}
STYLES = {"primary", "danger"}


class _Checker:
    def __init__(self) -> None:
        self.problems: list[str] = []

    def fail(self, pointer: str, message: str) -> None:
        self.problems.append(f"{message} [json-pointer:{pointer}]")

    def length(self, pointer: str, value: Any, limit: int, *, minimum: int = 0) -> None:
        if not isinstance(value, str):
            self.fail(pointer, "must be a string")
            return
        if len(value) > limit:
            self.fail(pointer, f"must be at most {limit} characters, is {len(value)}")
        elif len(value) < minimum:
            self.fail(pointer, f"must be at least {minimum} character{'s' if minimum != 1 else ''}")

    def count(self, pointer: str, items: Any, limit: int, *, minimum: int = 0) -> list[Any]:
        if not isinstance(items, list):
            self.fail(pointer, "must be an array")
            return []
        if len(items) > limit:
            self.fail(pointer, f"must provide no more than {limit} items, has {len(items)}")
        elif len(items) < minimum:
            self.fail(pointer, f"must provide at least {minimum} items, has {len(items)}")
        return items

    def text(self, pointer: str, obj: Any, limit: int = TEXT_OBJECT, *, plain_only: bool = False) -> None:
        """A text object: ``{"type": "plain_text"|"mrkdwn", "text": ...}``."""
        if not isinstance(obj, dict):
            self.fail(pointer, "must be a text object")
            return
        kind = obj.get("type")
        if kind not in ("plain_text", "mrkdwn") or (plain_only and kind != "plain_text"):
            self.fail(pointer + "/type", "must be plain_text" if plain_only else "must be plain_text or mrkdwn")
        self.length(pointer + "/text", obj.get("text"), min(limit, TEXT_OBJECT), minimum=1)

    def optional(self, obj: dict[str, Any], key: str, pointer: str, limit: int) -> None:
        if key in obj and obj[key] is not None:
            self.length(f"{pointer}/{key}", obj[key], limit)

    # -- composition objects --------------------------------------------------------------------
    def confirm(self, pointer: str, obj: Any) -> None:
        if not isinstance(obj, dict):
            self.fail(pointer, "must be a confirmation dialog object")
            return
        self.text(pointer + "/title", obj.get("title"), CONFIRM_TITLE, plain_only=True)
        self.text(pointer + "/text", obj.get("text"), CONFIRM_TEXT)
        self.text(pointer + "/confirm", obj.get("confirm"), CONFIRM_BUTTON, plain_only=True)
        self.text(pointer + "/deny", obj.get("deny"), CONFIRM_BUTTON, plain_only=True)

    def option(self, pointer: str, obj: Any) -> None:
        if not isinstance(obj, dict):
            self.fail(pointer, "must be an option object")
            return
        self.text(pointer + "/text", obj.get("text"), OPTION_TEXT)
        self.length(pointer + "/value", obj.get("value"), OPTION_VALUE, minimum=1)
        if obj.get("description") is not None:
            self.text(pointer + "/description", obj["description"], OPTION_DESCRIPTION)

    def options(self, pointer: str, obj: dict[str, Any], *, limit: int, required: bool, at_least: int = 0
                ) -> list[dict[str, Any]]:
        """``options`` or ``option_groups`` (one of them); returns every option offered."""
        offered: list[dict[str, Any]] = []
        if "options" in obj and "option_groups" in obj:
            self.fail(pointer, "must provide either options or option_groups, not both")
        if "options" in obj:
            for i, option in enumerate(self.count(pointer + "/options", obj["options"], limit, minimum=at_least)):
                self.option(f"{pointer}/options/{i}", option)
                offered.append(option)
        elif "option_groups" in obj:
            for g, group in enumerate(self.count(pointer + "/option_groups", obj["option_groups"],
                                                 SELECT_OPTION_GROUPS)):
                where = f"{pointer}/option_groups/{g}"
                if not isinstance(group, dict):
                    self.fail(where, "must be an option group object")
                    continue
                self.text(where + "/label", group.get("label"), OPTION_GROUP_LABEL, plain_only=True)
                for i, option in enumerate(self.count(where + "/options", group.get("options"),
                                                      OPTION_GROUP_OPTIONS)):
                    self.option(f"{where}/options/{i}", option)
                    offered.append(option)
        elif required:
            self.fail(pointer, "must provide options or option_groups")
        return offered

    # -- elements -------------------------------------------------------------------------------
    def element(self, pointer: str, obj: Any, *, where: str) -> None:
        if not isinstance(obj, dict):
            self.fail(pointer, "must be an element object")
            return
        kind = obj.get("type")
        if obj.get("action_id") is not None:
            self.length(pointer + "/action_id", obj["action_id"], ACTION_ID, minimum=1)
        if obj.get("confirm") is not None:
            self.confirm(pointer + "/confirm", obj["confirm"])
        if obj.get("placeholder") is not None:
            self.text(pointer + "/placeholder", obj["placeholder"], PLACEHOLDER, plain_only=True)
        if kind == "button":
            self.text(pointer + "/text", obj.get("text"), BUTTON_TEXT, plain_only=True)
            self.optional(obj, "value", pointer, BUTTON_VALUE)
            self.optional(obj, "url", pointer, BUTTON_URL)
            self.optional(obj, "accessibility_label", pointer, ACCESSIBILITY_LABEL)
            if obj.get("style") is not None and obj["style"] not in STYLES:
                self.fail(pointer + "/style", "must be primary or danger")
        elif kind in SELECTS:
            self.select(pointer, obj)
        elif kind == "overflow":
            low, high = OVERFLOW_OPTIONS
            for i, option in enumerate(self.count(pointer + "/options", obj.get("options"), high, minimum=low)):
                self.option(f"{pointer}/options/{i}", option)
        elif kind == "plain_text_input":
            if where != "input":
                self.fail(pointer, "a plain_text_input is only allowed in an input block")
            for key, lowest in (("min_length", 0), ("max_length", 1)):
                value = obj.get(key)
                if value is not None and (not isinstance(value, int) or not lowest <= value <= TEXT_INPUT_LENGTH):
                    self.fail(f"{pointer}/{key}", f"must be a number from {lowest} to {TEXT_INPUT_LENGTH}")
            if obj.get("initial_value") is not None and isinstance(obj.get("max_length"), int):
                self.length(pointer + "/initial_value", obj["initial_value"], obj["max_length"])
        elif kind == "image":
            self.length(pointer + "/image_url", obj.get("image_url"), IMAGE_URL, minimum=1)
            self.length(pointer + "/alt_text", obj.get("alt_text"), IMAGE_ALT_TEXT, minimum=1)
        elif kind in ("plain_text", "mrkdwn") and where == "context":
            self.text(pointer, obj)
        elif kind in ("datepicker", "timepicker", "datetimepicker", "checkboxes", "radio_buttons",
                      "number_input", "email_text_input", "url_text_input", "rich_text_input", "file_input",
                      "workflow_button"):
            if "options" in obj:
                self.options(pointer, obj, limit=10, required=False)
        else:
            self.fail(pointer + "/type", f"unsupported element type {kind!r} here")

    def select(self, pointer: str, obj: dict[str, Any]) -> None:
        kind = obj["type"]
        if kind in ("static_select", "multi_static_select"):
            offered = self.options(pointer, obj, limit=SELECT_OPTIONS, required=True, at_least=1)
            chosen = [obj["initial_option"]] if obj.get("initial_option") else list(obj.get("initial_options") or [])
            values = {(o.get("value"), _plain(o.get("text"))) for o in offered if isinstance(o, dict)}
            for i, option in enumerate(chosen):
                key = "initial_option" if kind == "static_select" else f"initial_options/{i}"
                self.option(f"{pointer}/{key}", option)
                # Slack: the initial option "must exactly match one of the options".
                if isinstance(option, dict) and (option.get("value"), _plain(option.get("text"))) not in values:
                    self.fail(f"{pointer}/{key}", "must exactly match one of the options")
        elif kind in ("external_select", "multi_external_select"):
            if obj.get("initial_option") is not None:
                self.option(pointer + "/initial_option", obj["initial_option"])
            for i, option in enumerate(obj.get("initial_options") or []):
                self.option(f"{pointer}/initial_options/{i}", option)
            minimum = obj.get("min_query_length")
            if minimum is not None and (not isinstance(minimum, int) or minimum < 0):
                self.fail(pointer + "/min_query_length", "must be a number of 0 or more")

    # -- blocks ---------------------------------------------------------------------------------
    def blocks(self, pointer: str, blocks: Any, *, limit: int, allowed: set[str]) -> None:
        seen_ids: dict[str, int] = {}
        for i, block in enumerate(self.count(pointer, blocks, limit)):
            where = f"{pointer}/{i}"
            if not isinstance(block, dict):
                self.fail(where, "must be a block object")
                continue
            kind = block.get("type")
            if kind not in allowed:
                self.fail(where + "/type", f"unsupported block type {kind!r} here")
                continue
            block_id = block.get("block_id")
            if block_id is not None:
                self.length(where + "/block_id", block_id, BLOCK_ID, minimum=1)
                if block_id in seen_ids:
                    self.fail(where + "/block_id", f"duplicate block_id, also at {pointer}/{seen_ids[block_id]}")
                seen_ids.setdefault(block_id, i)
            self.block(where, block)

    def block(self, pointer: str, block: dict[str, Any]) -> None:
        kind = block["type"]
        if kind == "section":
            if block.get("text") is None and not block.get("fields"):
                self.fail(pointer, "must define either text or fields")
            if block.get("text") is not None:
                self.text(pointer + "/text", block["text"], SECTION_TEXT)
            if block.get("fields") is not None:
                for i, field in enumerate(self.count(pointer + "/fields", block["fields"], SECTION_FIELDS)):
                    self.text(f"{pointer}/fields/{i}", field, SECTION_FIELD_TEXT)
            if block.get("accessory") is not None:
                self.element(pointer + "/accessory", block["accessory"], where="section")
        elif kind == "header":
            self.text(pointer + "/text", block.get("text"), HEADER_TEXT, plain_only=True)
        elif kind == "context":
            for i, element in enumerate(self.count(pointer + "/elements", block.get("elements"), CONTEXT_ELEMENTS,
                                                   minimum=1)):
                self.element(f"{pointer}/elements/{i}", element, where="context")
        elif kind == "actions":
            elements = self.count(pointer + "/elements", block.get("elements"), ACTIONS_ELEMENTS, minimum=1)
            self._unique_action_ids(pointer + "/elements", elements)
            for i, element in enumerate(elements):
                self.element(f"{pointer}/elements/{i}", element, where="actions")
        elif kind == "input":
            self.text(pointer + "/label", block.get("label"), INPUT_LABEL, plain_only=True)
            if block.get("hint") is not None:
                self.text(pointer + "/hint", block["hint"], INPUT_HINT, plain_only=True)
            if block.get("element") is None:
                self.fail(pointer + "/element", "is required")
            else:
                self.element(pointer + "/element", block["element"], where="input")
        elif kind == "image":
            self.length(pointer + "/image_url", block.get("image_url"), IMAGE_URL, minimum=1)
            self.length(pointer + "/alt_text", block.get("alt_text"), IMAGE_ALT_TEXT, minimum=1)
            if block.get("title") is not None:
                self.text(pointer + "/title", block["title"], IMAGE_TITLE, plain_only=True)

    def _unique_action_ids(self, pointer: str, elements: Iterable[Any]) -> None:
        seen: set[str] = set()
        for i, element in enumerate(elements):
            action_id = element.get("action_id") if isinstance(element, dict) else None
            if action_id is None:
                continue
            if action_id in seen:
                self.fail(f"{pointer}/{i}/action_id", "duplicate action_id in this block")
            seen.add(action_id)


def _plain(obj: Any) -> Any:
    return obj.get("text") if isinstance(obj, dict) else obj


def message_problems(message: dict[str, Any]) -> list[str]:
    """What Slack refuses in a message's blocks (chat.postMessage, chat.update,
    chat.postEphemeral, a response_url post, a slash command's acknowledgement)."""
    checker = _Checker()
    if message.get("blocks") is not None:
        checker.blocks("/blocks", message["blocks"], limit=MESSAGE_BLOCKS, allowed=MESSAGE_BLOCK_TYPES)
    return checker.problems


def message_text_too_long(message: dict[str, Any]) -> bool:
    text = message.get("text")
    return isinstance(text, str) and len(text) > MESSAGE_TEXT


def view_problems(view: Any) -> list[str]:
    """What Slack refuses in a view (views.open, .update, .push, .publish, a response_action update/push)."""
    checker = _Checker()
    if not isinstance(view, dict):
        checker.fail("/view", "must be a view object")
        return checker.problems
    kind = view.get("type")
    if kind not in ("modal", "home"):
        checker.fail("/view/type", "must be modal or home")
        return checker.problems
    if kind == "modal":
        checker.text("/view/title", view.get("title"), MODAL_TITLE, plain_only=True)
        for key in ("submit", "close"):
            if view.get(key) is not None:
                checker.text(f"/view/{key}", view[key], MODAL_SUBMIT if key == "submit" else MODAL_CLOSE,
                             plain_only=True)
        has_input = any(isinstance(b, dict) and b.get("type") == "input" for b in view.get("blocks") or [])
        if has_input and view.get("submit") is None:
            checker.fail("/view/submit", "is required when the view has an input block")
    for key, limit in (("private_metadata", PRIVATE_METADATA), ("callback_id", CALLBACK_ID),
                       ("external_id", EXTERNAL_ID)):
        checker.optional(view, key, "/view", limit)
    checker.blocks("/view/blocks", view.get("blocks"), limit=VIEW_BLOCKS, allowed=VIEW_BLOCK_TYPES)
    return checker.problems


def suggestion_problems(answer: Any) -> list[str]:
    """What Slack refuses in the answer to a block_suggestion (an external select's options)."""
    checker = _Checker()
    if not isinstance(answer, dict):
        checker.fail("", "must be an object with options or option_groups")
        return checker.problems
    checker.options("", answer, limit=SUGGESTION_OPTIONS, required=True)
    return checker.problems


def refusal(error: str, problems: list[str]) -> dict[str, Any]:
    """Slack's answer to a refused payload: the error, and each problem in response_metadata."""
    return {"ok": False, "error": error, "errors": problems,
            "response_metadata": {"messages": [f"[ERROR] {p}" for p in problems]}}
