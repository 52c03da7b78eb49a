"""Block Kit as plain text, for the console: what a person would read in Slack.

Pure functions: blocks (dicts, as Slack receives them) in, lines of text out.
Buttons are handed to a callback that names them (the console numbers them so
they can be pressed); mentions to another (the console says "you" for its user)."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from blocks.mrkdwn import unescape

ButtonLabel = Callable[[dict[str, Any], str | None], str]  # (button element, block_id) -> "[1 Void]"
Mention = Callable[[str], str]  # user id -> "@U0123"

EMOJI = {
    "moneybag": "💰",
    "white_check_mark": "✅",
    "warning": "⚠️",
    "leftwards_arrow_with_hook": "↩️",
    "x": "❌",
    "no_entry": "⛔",
    "no_entry_sign": "🚫",
    "hourglass": "⌛",
    "hourglass_flowing_sand": "⏳",
    "rocket": "🚀",
    "test_tube": "🧪",
    "link": "🔗",
    "calendar": "📅",
    "globe_with_meridians": "🌐",
    "bell": "🔔",
}

_CODE = re.compile(r"(`[^`\n]+`)")
_ANGLE = re.compile(r"<([^<>]+)>")
_BOLD = re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])")
_ITALIC = re.compile(r"(?<![\w_])_(?=\S)([^_\n]+?)(?<=\S)_(?![\w_])")
_EMOJI = re.compile(r":([a-z0-9_+-]+):")


def default_mention(user_id: str) -> str:
    return f"@{user_id}"


def default_button(element: dict[str, Any], block_id: str | None) -> str:
    return f"[{plain(element.get('text'))}]"


def plain(text_object: Any) -> str:
    """The text of a text object (plain_text or mrkdwn), or of a bare string."""
    if isinstance(text_object, str):
        return text_object
    if isinstance(text_object, dict):
        return str(text_object.get("text", ""))
    return ""


def mrkdwn_to_text(text: str, *, mention: Mention = default_mention) -> str:
    """Slack mrkdwn as a terminal shows it: markup removed, links and mentions
    spelled out, escapes undone (last, so an escaped ``&lt;!channel&gt;`` stays text)."""
    codes: list[str] = []

    def keep(match: re.Match[str]) -> str:
        codes.append(match.group(1)[1:-1])
        return f"\x00{len(codes) - 1}\x00"

    text = _CODE.sub(keep, text)  # inline code is shown as is: set it aside first
    text = _ANGLE.sub(lambda m: _angle(m.group(1), mention), text)
    text = _BOLD.sub(r"\1", text)
    text = _ITALIC.sub(r"\1", text)
    text = _EMOJI.sub(lambda m: EMOJI.get(m.group(1), m.group(0)), text)
    text = re.sub("\x00(\\d+)\x00", lambda m: codes[int(m.group(1))], text)
    return unescape(text)


def _angle(inner: str, mention: Mention) -> str:
    target, _, label = inner.partition("|")
    if target.startswith("@"):
        return mention(target[1:])
    if target.startswith("#"):
        return f"#{label or target[1:]}"
    if target.startswith("!"):
        return f"@{label or target[1:].split('^')[0]}"
    if label and label.rstrip("/") != re.sub(r"^https?://", "", target).rstrip("/"):
        return f"{label} ({target})"
    return target


def _text(obj: Any, mention: Mention) -> str:
    if isinstance(obj, dict) and obj.get("type") == "mrkdwn":
        return mrkdwn_to_text(str(obj.get("text", "")), mention=mention)
    return plain(obj)


def _indent(text: str, prefix: str) -> list[str]:
    return [prefix + line if line else prefix.rstrip() for line in text.split("\n")]


def _element(element: dict[str, Any], block_id: str | None, button: ButtonLabel, mention: Mention) -> str:
    kind = element.get("type")
    if kind == "button":
        label = button(element, block_id)
        return f"{label} {element['url']}" if element.get("url") and "http" not in label else label
    if kind == "image":
        return f"[image: {element.get('alt_text', '')}]"
    if kind in ("mrkdwn", "plain_text"):
        return _text(element, mention)
    if kind == "overflow":
        return "[…]"
    placeholder = plain(element.get("placeholder"))
    return f"[{placeholder or kind}]"


def render_blocks(blocks: Sequence[dict[str, Any]], *, button: ButtonLabel = default_button,
                  mention: Mention = default_mention, indent: str = "  ") -> list[str]:
    """The lines a person reads for these blocks (inputs excluded: a form is rendered by the console)."""
    lines: list[str] = []
    roomy = False  # the previous block was a section of several lines
    for block in blocks:
        kind = block.get("type")
        block_id = block.get("block_id")
        # A blank line before a header, and after a section of several lines, as Slack spaces them.
        if lines and (kind == "header" or (kind == "section" and roomy)):
            lines.append("")
        roomy = False
        if kind == "header":
            title = plain(block.get("text"))
            lines += [indent + title, indent + "=" * len(title)]
        elif kind == "section":
            text = _indent(_text(block["text"], mention), indent) if block.get("text") else []
            for field in block.get("fields") or []:
                text += _indent(_text(field, mention), indent + "  ")
            roomy = len(text) > 1
            if block.get("accessory"):
                accessory = _element(block["accessory"], block_id, button, mention)
                if len(text) == 1:
                    text[0] += "  " + accessory
                else:
                    text.append(indent + "  " + accessory)
            lines += text
        elif kind == "context":
            parts = [_element(e, block_id, button, mention) for e in block.get("elements") or []]
            lines += _indent(" · ".join(p for p in parts if p), indent + "  ")
        elif kind == "actions":
            parts = [_element(e, block_id, button, mention) for e in block.get("elements") or []]
            lines.append(indent + "  ".join(parts))
        elif kind == "divider":
            lines.append(indent + "-" * 40)
        elif kind == "image":
            lines.append(indent + f"[image: {block.get('alt_text', '')}]")
        elif kind == "input":
            continue
        elif kind == "rich_text":
            lines += _indent(_rich_text(block), indent)
        else:
            lines.append(indent + f"[{kind} block]")
    return lines


def _rich_text(block: dict[str, Any]) -> str:
    def walk(node: Any) -> str:
        if isinstance(node, dict):
            if node.get("type") == "text":
                return str(node.get("text", ""))
            if node.get("type") == "link":
                return str(node.get("text") or node.get("url", ""))
            return "".join(walk(child) for child in node.get("elements") or [])
        return ""

    return walk(block)


def render_message(text: str | None, blocks: Sequence[dict[str, Any]] | None, *, button: ButtonLabel = default_button,
                   mention: Mention = default_mention, indent: str = "  ") -> list[str]:
    """A message: its blocks when it has any, else its text (which is mrkdwn too)."""
    if blocks:
        return render_blocks(blocks, button=button, mention=mention, indent=indent)
    return _indent(mrkdwn_to_text(text or "", mention=mention), indent)
