"""Telling the CS team something went wrong: internal messages, sent on the next tick."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from campaigns.db import insert_ignoring_conflicts
from campaigns.programs.models import Campaign, Message
from dispatcher.runtime.core import Runtime
from dispatcher.sending.stored_contents import store_content
from templates import RenderedMessage


def internal_message(
    runtime: Runtime, session: Session, *, key: str, campaign: Campaign | None, step: str, medium: str,
    recipient: str, content_id: int, now: datetime, step_id: int | None = None,
) -> None:
    """Queue one internal message (idempotent per key); the tick hands it over."""
    queue_internal_messages(session, [internal_row(
        runtime, key=key, campaign=campaign, step=step, medium=medium, recipient=recipient, content_id=content_id, now=now, step_id=step_id,
    )])


def internal_row(
    runtime: Runtime, *, key: str, campaign: Campaign | None, step: str, medium: str,
    recipient: str, content_id: int, now: datetime, step_id: int | None = None,
) -> dict[str, Any]:
    """One internal message's row, for ``queue_internal_messages``."""
    return {
        "idempotency_key": key, "campaign_id": campaign.id if campaign else None, "step_id": step_id, "step": step,
        "medium": medium, "channel": runtime.channels.names.get(medium), "channel_reason": "internal recipient",
        "recipient": recipient, "content_id": content_id, "substitutions": {}, "state": "queued", "not_before": now,
        "attempts": 0, "created_at": now, "updated_at": now,
    }


def queue_internal_messages(session: Session, rows: list[dict[str, Any]]) -> None:
    """Queue internal messages (idempotent per key), one statement; the tick hands them over."""
    insert_ignoring_conflicts(session, Message, rows, unique=["idempotency_key"])


def alert_team(runtime: Runtime, session: Session, campaign: Campaign, *, subject: str, text: str, avoid_channel: str, now: datetime) -> None:
    """Email the campaign's internal list and post to its Slack webhook, skipping the broken channel."""
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    recipients = campaign.internal_recipients or {}
    email_channel = runtime.channels.names.get("email")
    if email_channel and email_channel != avoid_channel:
        content = store_content(session, RenderedMessage(subject=subject, text=text, html=None))
        for address in recipients.get("emails") or []:
            internal_message(runtime, session, key=f"alert:{campaign.id}:{digest}:{address}", campaign=campaign, step="alert", medium="email", recipient=address, content_id=content, now=now)
    if recipients.get("slack_webhook_url") and avoid_channel != "slack":
        content = store_content(session, RenderedMessage(subject=None, text=json.dumps({"text": f"*{subject}*\n{text}"}), html=None))
        internal_message(runtime, session, key=f"alert:{campaign.id}:{digest}:slack", campaign=campaign, step="alert", medium="slack", recipient=recipients["slack_webhook_url"], content_id=content, now=now)
