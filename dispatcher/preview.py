"""Campaign preview (dry run): who is in, who is out and why, on which channel, and when.

Runs the same exclusions and budget checks as selection, but writes nothing and
reserves nothing.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from campaigns.people.models import Contact
from campaigns.programs.audience import audience_query
from campaigns.programs.models import Campaign
from campaigns.programs.plan import check_plan
from campaigns.programs.reach import Reach
from dispatcher.channel_setup import unavailable_reasons
from dispatcher.runtime import Runtime
from dispatcher.selection import CHUNK, evaluate

SAMPLE_SIZE = 20


@dataclass
class Preview:
    selected: int = 0
    excluded: Counter[str] = field(default_factory=Counter)
    sample: list[dict[str, Any]] = field(default_factory=list)
    schedule: list[dict[str, Any]] = field(default_factory=list)
    channels: dict[str, str | None] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)


def schedule(campaign: Campaign, now: datetime) -> list[dict[str, Any]]:
    if campaign.mode == "continuous":
        start = campaign.send_at or now
        return [{"key": s.key, "step": s.step, "due_at": s.due(start), "note": "for each daily wave, counted from its invite"} for s in check_plan(campaign.plan)]
    first_offset = min(s.offset for s in check_plan(campaign.plan))
    send_at = campaign.send_at or (now - first_offset)
    return [{"key": s.key, "step": s.step, "due_at": s.due(send_at)} for s in check_plan(campaign.plan)]


def preview_campaign(runtime: Runtime, session: Session, campaign: Campaign) -> Preview:
    now = runtime.clock.now()
    result = Preview(schedule=schedule(campaign, now))
    available = runtime.available_media
    result.channels = {m: runtime.channels.names.get(m) for m in campaign.channels}
    result.unavailable = {m: r for m, r in unavailable_reasons(runtime.settings).items() if m in campaign.channels}
    # The budget is asked about the invite time a launch now would choose.
    invite_at = next(s["due_at"] for s in result.schedule if s["step"] == "invite")
    after = 0
    while True:
        contacts = list(session.scalars(audience_query(campaign.audience, now).where(Contact.id > after).limit(CHUNK)).unique())
        if not contacts:
            break
        excluded = evaluate(runtime, session, campaign, contacts, now=now, reserve=False, at=invite_at)
        reach = Reach.load(session, contacts, allowed=campaign.channels, available=available, now=now)
        for contact in contacts:
            if contact.id in excluded:
                result.excluded[excluded[contact.id].rule] += 1
                continue
            result.selected += 1
            if len(result.sample) < SAMPLE_SIZE:
                result.sample.append({
                    "contact_id": contact.id, "external_id": contact.external_id, "name": contact.name,
                    "timezone": contact.timezone, "channel": reach.media(contact)[0],
                })
        after = contacts[-1].id
    return result
