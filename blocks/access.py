"""What a refusal says: who may do it and whom to ask (the Refusal's facts, from bot/core/access.py's table)."""

from __future__ import annotations

from bot.core.access import Refusal, Role


def refusal_text(refusal: Refusal) -> str:
    """Why ``refusal`` was refused and what to do, in mrkdwn (admins mentioned)."""
    doing = refusal.doing
    if refusal.outsider:
        return (f"You are not in this workspace's organisation (you reached opsbot through a channel shared "
                f"with another one), so you cannot {doing} here. If you are crew, ask an admin to add your "
                "Slack user ID to OPSBOT_CREW.")
    if refusal.needed is Role.ADMIN:
        if refusal.admins:
            names = ", ".join(f"<@{admin}>" for admin in refusal.admins)
            return f"Only admins can {doing}. Ask one of: {names}."
        return f"Only admins can {doing}, and none is set: add Slack user IDs to OPSBOT_ADMINS."
    return f"Only crew can {doing}. Ask an admin to add you to OPSBOT_CREW."
