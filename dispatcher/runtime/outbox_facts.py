"""What the development outbox's files were: the campaign, step and survey kind of each message."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from campaigns.programs.models import Campaign, Message
from channels.outbox import OutboxEntry

_MESSAGE_ID = re.compile(r"^\d{8}T\d{6}\.\d{6}Z-(\d+)-")


@dataclass(frozen=True)
class OutboxFact:
    campaign_id: int | None
    campaign_name: str | None
    step: str  # invite, reminder, detractor_alert, ...
    kind: str | None  # nps, csat, ces (None for messages of no campaign)


def message_facts(session: Session, entries: Sequence[OutboxEntry]) -> dict[str, OutboxFact]:
    """Each outbox file's facts by file name (the name carries the message id); files of no known message are left out."""
    ids = {int(m.group(1)): e.name for e in entries if (m := _MESSAGE_ID.match(e.name))}
    if not ids:
        return {}
    rows = session.execute(
        select(Message.id, Message.step, Campaign.id, Campaign.name, Campaign.kind)
        .outerjoin(Campaign, Campaign.id == Message.campaign_id).where(Message.id.in_(list(ids)))
    )
    return {ids[message_id]: OutboxFact(campaign_id, name, step, kind) for message_id, step, campaign_id, name, kind in rows}
