"""Campaign preview (dry run): who is in, who is out and why, on which channel, and when.

Runs the same exclusions and budget checks as selection, and the same channel
choice as the invite step (its best estimate: exploring may send a few people
another way), but writes nothing and reserves nothing. Gives the predicted mix
of media, a sample of selected contacts with their predicted medium and why,
and for each exclusion rule a sample of the contacts it keeps out, with the reason.
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
from dispatcher.routing import Candidate, Priors, cached_priors, choose_media, load_evidence
from dispatcher.runtime.channel_setup import unavailable_reasons
from dispatcher.runtime.core import Runtime
from dispatcher.sending.selection import CHUNK, evaluate

SAMPLE_SIZE = 20
EXCLUDED_SAMPLE_SIZE = 5  # per exclusion rule


@dataclass
class Preview:
    selected: int = 0
    excluded: Counter[str] = field(default_factory=Counter)
    sample: list[dict[str, Any]] = field(default_factory=list)
    schedule: list[dict[str, Any]] = field(default_factory=list)
    channels: dict[str, str | None] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)
    media: Counter[str] = field(default_factory=Counter)  # predicted invite medium → contacts
    excluded_sample: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


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
    mode = campaign.channel_choice
    half_life = runtime.settings.channel_half_life_days
    priors = cached_priors(runtime.extras, session, now=now, half_life_days=half_life) if mode == "learned" else Priors()
    after = 0
    while True:
        contacts = list(session.scalars(audience_query(campaign.audience, now).where(Contact.id > after).limit(CHUNK)).unique())
        if not contacts:
            break
        excluded = evaluate(runtime, session, campaign, contacts, now=now, reserve=False, at=invite_at)
        reach = Reach.load(session, contacts, allowed=campaign.channels, available=available, now=now)
        selected = [c for c in contacts if c.id not in excluded]
        candidates = [Candidate(c.id, tuple(reach.media(c)), c.role, c.last_seen_at, has_phone=c.phone is not None) for c in selected]
        evidence = load_evidence(session, [c.id for c in selected], now=now, half_life_days=half_life)
        choices = choose_media(candidates, order=campaign.channels, evidence=evidence, priors=priors, mode=mode, explore=False, now=now)  # type: ignore[arg-type]
        for contact in contacts:
            if contact.id in excluded:
                exclusion = excluded[contact.id]
                result.excluded[exclusion.rule] += 1
                examples = result.excluded_sample.setdefault(exclusion.rule, [])
                if len(examples) < EXCLUDED_SAMPLE_SIZE:
                    examples.append({"contact_id": contact.id, "external_id": contact.external_id, "name": contact.name, "reason": exclusion.reason})
        for contact, choice in zip(selected, choices, strict=True):
            result.selected += 1
            result.media[choice.medium or "none"] += 1
            if len(result.sample) < SAMPLE_SIZE:
                result.sample.append({
                    "contact_id": contact.id, "external_id": contact.external_id, "name": contact.name,
                    "timezone": contact.timezone, "channel": choice.medium, "channel_reason": choice.reason,
                    "channel_estimates": choice.estimates,
                })
        after = contacts[-1].id
    return result
