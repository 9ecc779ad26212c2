"""Transactional surveys: one contact, one survey, now (a CSAT when a ticket closes).

They go through the same exclusions, fatigue budget, sending hours (optional)
and channel choice as campaigns. Each (kind, trigger) has a hidden campaign
that holds its episodes, so reports and the budget see them like any other.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaigns.db import dialect_insert, lock_name
from campaigns.people.fields import FieldError
from campaigns.people.models import Contact
from campaigns.programs.exclusions import program_exclusions
from campaigns.programs.models import Campaign, Episode, Message
from campaigns.programs.reach import Reach, address
from campaigns.programs.service import new_public_id
from campaigns.programs.spec import check_campaign
from campaigns.programs.window import DEFAULT_WINDOW, SendingWindow
from dispatcher.routing import Candidate, ChoiceMode, route
from dispatcher.runtime.core import Runtime
from dispatcher.sending.budget import Refusal
from dispatcher.sending.contents import ContentCache, recipient_values

MAX_DEFERRALS = 3  # how many later windows the budget is asked about before the send is dropped
TRANSACTIONAL_PLAN = [{"step": "invite", "offset_days": 0}, {"step": "thank_you"}, {"step": "close", "offset_days": 7}]


@dataclass(frozen=True)
class TransactionalResult:
    status: str  # queued, scheduled, deferred, refused, excluded
    episode_id: int | None
    message_id: int | None
    channel: str | None
    not_before: datetime | None
    rule: str | None = None
    reason: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "status": self.status, "episode_id": self.episode_id, "message_id": self.message_id,
            "channel": self.channel, "not_before": self.not_before.isoformat() if self.not_before else None,
            "rule": self.rule, "reason": self.reason,
        }


def _program(session: Session, *, kind: str, trigger: str, channels: list[str], now: datetime) -> Campaign:
    name = f"transactional {kind}: {trigger}"
    lock_name(session, f"pulse:program:{name}")  # two first requests must not make two programs
    campaign = session.scalar(select(Campaign).where(Campaign.mode == "transactional", Campaign.name == name))
    if campaign is not None:
        return campaign
    values = check_campaign({
        "name": name, "survey": {"kind": kind}, "audience": {"contact_ids": [1]}, "plan": TRANSACTIONAL_PLAN,  # a stand-in: the audience is cleared below
        "channels": channels, "exclusions": {"min_account_age_days": 0},
    })
    campaign = Campaign(**{**values, "mode": "transactional", "audience": {}, "send_at": now}, status="active", selection_state="done", created_at=now, launched_at=now)
    session.add(campaign)
    session.flush()
    return campaign


def send_transactional(
    runtime: Runtime, session: Session, *, contact: Contact, kind: str, trigger: str, reference: str | None,
    channels: list[str], respect_sending_hours: bool, channel_choice: ChoiceMode = "learned",
) -> TransactionalResult:
    """Plan the survey (flushes, the caller commits); the message goes out on hand-off."""
    now = runtime.clock.now()
    campaign = _program(session, kind=kind, trigger=trigger, channels=channels, now=now)
    lock_name(session, f"pulse:episode:{campaign.id}:{contact.id}")  # the wave count below is ours alone
    wave = session.scalar(select(func.count()).select_from(Episode).where(Episode.campaign_id == campaign.id, Episode.contact_id == contact.id)) or 0
    episode = Episode(public_id=new_public_id(), campaign_id=campaign.id, contact_id=contact.id, wave=wave, state="selected", trigger=trigger, reference=reference, created_at=now)
    session.add(episode)
    session.flush()
    reach = Reach.load(session, [contact], allowed=channels, available=runtime.available_media, now=now)
    excluded = program_exclusions(session, contacts=[contact], exclusions=campaign.exclusions, reach=reach, now=now).get(contact.id)
    if excluded is not None:
        episode.state, episode.exclusion_rule, episode.exclusion_reason = "excluded", excluded.rule, excluded.reason
        return TransactionalResult("excluded", episode.id, None, None, None, excluded.rule, excluded.reason)
    [choice] = route(
        runtime, session, [Candidate(contact.id, tuple(reach.media(contact)), contact.role, contact.last_seen_at, has_phone=contact.phone is not None)],
        order=channels, mode=channel_choice, campaign_id=campaign.id, step_id=None, batch_key=episode.id, now=now,
    )
    medium = choice.medium
    assert medium is not None  # not excluded: reachable on some medium
    window = SendingWindow.parse(DEFAULT_WINDOW)
    send_at = window.next_open(now, contact.timezone) if respect_sending_hours else now
    refusal, first_refusal = _reserve(runtime, session, campaign, contact, send_at, now)
    if refusal is not None:
        episode.state, episode.exclusion_rule, episode.exclusion_reason = "excluded", refusal.rule, refusal.reason
        return TransactionalResult("refused", episode.id, None, None, None, refusal.rule, refusal.reason)
    if first_refusal is not None:
        send_at = first_refusal.retry_at or send_at
        if respect_sending_hours:
            send_at = window.next_open(send_at, contact.timezone)
    cache = ContentCache(runtime)
    key = f"transactional:{episode.id}:invite"
    session.execute(dialect_insert(session, Message).values(
        idempotency_key=key, campaign_id=campaign.id, episode_id=episode.id, contact_id=contact.id, step="invite",
        medium=medium, channel=runtime.channels.names[medium], channel_reason=choice.reason, channel_estimates=choice.estimates, recipient=address(contact, medium),
        locale=contact.locale, content_id=cache.survey_content(session, campaign, medium=medium, template_step="invite", locale=contact.locale),
        substitutions=recipient_values(runtime.settings, episode, contact, now), state="queued", not_before=send_at,
        attempts=0, created_at=now, updated_at=now,
    ))
    message_id = session.scalar(select(Message.id).where(Message.idempotency_key == key))
    status = "deferred" if first_refusal is not None else ("queued" if send_at <= now else "scheduled")
    return TransactionalResult(
        status, episode.id, message_id, medium, send_at,
        first_refusal.rule if first_refusal else None, first_refusal.reason if first_refusal else None,
    )


def _reserve(runtime: Runtime, session: Session, campaign: Campaign, contact: Contact, at: datetime, now: datetime) -> tuple[Refusal | None, Refusal | None]:
    """Reserve the invitation at ``at``, or at the later time a ``defer`` refusal names.

    Returns (final refusal, first refusal): a deferred send has a first refusal
    (its explanation) and no final one.
    """
    first: Refusal | None = None
    for _ in range(MAX_DEFERRALS + 1):
        refusal = runtime.budget.reserve_invitations(session, kind=campaign.kind, campaign_id=campaign.id, contacts=[contact], at=at, now=now).get(contact.id)
        if refusal is None:
            return None, first
        first = first or refusal
        if refusal.action != "defer" or refusal.retry_at is None:
            return refusal, first
        at = refusal.retry_at
    return first, first


def find_contact(session: Session, *, contact_id: int | None, external_id: str | None) -> Contact:
    if (contact_id is None) == (external_id is None):
        raise FieldError("contact_id", "give exactly one of contact_id and contact_external_id")
    query = select(Contact).where(Contact.erased_at.is_(None))
    query = query.where(Contact.id == contact_id) if contact_id is not None else query.where(Contact.external_id == external_id)
    contact = session.scalar(query)
    if contact is None:
        field = "contact_id" if contact_id is not None else "contact_external_id"
        raise FieldError(field, "no such contact")
    return contact
