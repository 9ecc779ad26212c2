"""Creating campaigns and moving them through their lifecycle.

draft → active (launch) ⇄ paused (pause / resume) → closed (by the close step);
cancelled from draft, active or paused. Functions flush; the caller commits.
"""

from __future__ import annotations

import secrets
from datetime import date, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from campaigns.paging import Page, page_by_id
from campaigns.people.fields import FieldError
from campaigns.people.service import NotFound
from campaigns.programs.models import Campaign, Episode, Message, PlanStep
from campaigns.programs.plan import check_plan
from campaigns.programs.spec import check_campaign


class StateConflict(Exception):
    """The campaign is not in a state that allows this (e.g. launching a running campaign)."""


def new_public_id() -> str:
    return secrets.token_urlsafe(16)


def create_campaign(session: Session, *, spec: dict[str, Any], now: datetime) -> Campaign:
    values = check_campaign(spec)
    if not values["name"] or not str(values["name"]).strip():
        raise FieldError("name", "is required")
    campaign = Campaign(**values, status="draft", created_at=now)
    session.add(campaign)
    session.flush()
    return campaign


def get_campaign(session: Session, campaign_id: int, *, lock: bool = False) -> Campaign:
    campaign = session.get(Campaign, campaign_id, with_for_update=lock)
    if campaign is None or campaign.mode == "transactional":
        raise NotFound(f"no campaign with id {campaign_id}")
    return campaign


def list_campaigns(session: Session, *, cursor: str | None, limit: int, status: str | None = None) -> Page:
    query = select(Campaign).where(Campaign.mode != "transactional")
    if status:
        query = query.where(Campaign.status == status)
    return page_by_id(session, query, Campaign.id, cursor=cursor, limit=limit)


def plan_steps(campaign: Campaign, send_at: datetime) -> list[PlanStep]:
    """The step rows of a one-off campaign (wave 0) with their due times."""
    return [
        PlanStep(campaign_id=campaign.id, key=s.key, step=s.step, number=s.number, final=s.final, wave=0, due_at=s.due(send_at), status="pending")
        for s in check_plan(campaign.plan)
    ]


def launch(session: Session, *, campaign_id: int, now: datetime) -> Campaign:
    """Start the campaign: its steps are scheduled and the audience is selected by the next tick.

    Without ``send_at``, the invite goes out as soon as the earliest step allows:
    T is set so that the first step is due now.
    """
    campaign = get_campaign(session, campaign_id, lock=True)
    if campaign.status != "draft":
        raise StateConflict(f"campaign {campaign.id} is {campaign.status}; only a draft can be launched")
    if campaign.mode == "one_off":
        if campaign.send_at is not None and campaign.send_at < now:
            raise FieldError("send_at", f"{campaign.send_at.isoformat()} is in the past; choose a later time or leave it out to start now")
        first_offset = min(s.offset for s in check_plan(campaign.plan))
        send_at = campaign.send_at or (now - first_offset)
        campaign.send_at = send_at
        session.add_all(plan_steps(campaign, send_at))
    else:
        campaign.send_at = campaign.send_at or now
        campaign.selection_state = "done"  # continuous programs select a wave a day instead
    campaign.status = "active"
    campaign.launched_at = now
    session.flush()
    return campaign


MAX_REASON = 1000


def pause(session: Session, *, campaign_id: int, reason: str | None = None, by: str | None = None, now: datetime | None = None) -> Campaign:
    """Stop sending until resumed, recording why and who (shown on the campaign and in its progress)."""
    campaign = get_campaign(session, campaign_id, lock=True)
    if campaign.status != "active":
        raise StateConflict(f"campaign {campaign.id} is {campaign.status}; only an active campaign can be paused")
    text = (reason or "").strip()
    if len(text) > MAX_REASON:
        raise FieldError("reason", f"is {len(text)} characters; keep it under {MAX_REASON}")
    campaign.status = "paused"
    campaign.paused_reason = text or None
    campaign.paused_by = by
    campaign.paused_at = now
    session.flush()
    return campaign


def resume(session: Session, *, campaign_id: int) -> Campaign:
    """Back to active; steps whose batches stopped at the pause are handed out again."""
    campaign = get_campaign(session, campaign_id, lock=True)
    if campaign.status != "paused":
        raise StateConflict(f"campaign {campaign.id} is {campaign.status}; only a paused campaign can be resumed")
    campaign.status = "active"
    campaign.paused_reason = campaign.paused_by = None
    campaign.paused_at = None
    # Batches are idempotent: running a dispatched step again reaches only the
    # episodes the pause left without a message, and sends queued ones.
    session.execute(
        update(PlanStep).where(PlanStep.campaign_id == campaign.id, PlanStep.status.in_(("running", "dispatched")))
        .values(status="pending", claimed_by=None, claimed_at=None)
    )
    session.flush()
    return campaign


def cancel(session: Session, *, campaign_id: int, now: datetime) -> Campaign:
    """Stop for good: nothing more is sent. Releasing budget reservations is the caller's part."""
    campaign = get_campaign(session, campaign_id, lock=True)
    if campaign.status in ("closed", "cancelled"):
        raise StateConflict(f"campaign {campaign.id} is already {campaign.status}")
    campaign.status = "cancelled"
    campaign.cancelled_at = now
    session.execute(update(PlanStep).where(PlanStep.campaign_id == campaign.id, PlanStep.status.in_(("pending", "running"))).values(status="cancelled"))
    session.execute(
        update(Message).where(Message.campaign_id == campaign.id, Message.state.in_(("queued", "retrying")))
        .values(state="skipped", skip_rule="campaign_cancelled", skip_reason="the campaign was cancelled", updated_at=now)
    )
    session.execute(
        update(Episode).where(Episode.campaign_id == campaign.id, Episode.state.not_in(("excluded", "answered", "thanked")))
        .values(state="cancelled")
    )
    session.flush()
    return campaign


def draft_spec(campaign: Campaign) -> dict[str, Any]:
    """The API body that would create ``campaign`` as it is now (for editing a draft)."""
    survey = dict(campaign.survey or {})
    return {
        "name": campaign.name, "mode": campaign.mode, "period_days": campaign.period_days,
        "survey": {"kind": campaign.kind, "question": survey.get("question") or None,
                   "follow_up_question": survey.get("follow_up_question") or None, "deadline": survey.get("deadline")},
        "timezone": survey.get("timezone") or "UTC", "audience": campaign.audience, "exclusions": campaign.exclusions,
        "plan": campaign.plan, "sending_window": campaign.sending_window, "channels": campaign.channels,
        "internal_recipients": campaign.internal_recipients, "review_link": campaign.review_link, "send_at": campaign.send_at,
    }


def update_draft(session: Session, *, campaign_id: int, changes: dict[str, Any]) -> Campaign:
    """Apply ``changes`` (API body fields; ``survey`` merged field by field) to a draft, checking the whole again."""
    campaign = get_campaign(session, campaign_id, lock=True)
    if campaign.status != "draft":
        raise StateConflict(f"campaign {campaign.id} is {campaign.status}; only a draft can be edited")
    spec = draft_spec(campaign)
    survey = {**spec["survey"], **(changes.pop("survey", None) or {})}
    spec.update(changes)
    spec["survey"] = survey
    if isinstance(spec.get("survey", {}).get("deadline"), str):
        spec["survey"]["deadline"] = date.fromisoformat(spec["survey"]["deadline"][:10])
    values = check_campaign(spec)
    if not values["name"] or not str(values["name"]).strip():
        raise FieldError("name", "is required")
    for column, value in values.items():
        setattr(campaign, column, value)
    session.flush()
    return campaign


def delete_draft(session: Session, *, campaign_id: int) -> None:
    """Remove a draft for good; a launched campaign is cancelled instead, never deleted."""
    campaign = get_campaign(session, campaign_id, lock=True)
    if campaign.status != "draft":
        raise StateConflict(f"campaign {campaign.id} is {campaign.status}; only a draft can be deleted (cancel a launched one)")
    session.delete(campaign)
    session.flush()


def trigger_you_said_we_did(session: Session, *, campaign_id: int, text: str, now: datetime) -> PlanStep:
    campaign = get_campaign(session, campaign_id, lock=True)
    if campaign.status != "closed":
        raise StateConflict(f"campaign {campaign.id} is {campaign.status}; you_said_we_did comes after close")
    if not text.strip():
        raise FieldError("text", "tell customers what changed")
    if campaign.you_said_we_did is not None:
        raise StateConflict(f"campaign {campaign.id} already sent its you_said_we_did")
    campaign.you_said_we_did = text.strip()
    step = PlanStep(campaign_id=campaign.id, key="you_said_we_did", step="you_said_we_did", wave=0, due_at=now, status="pending")
    session.add(step)
    session.flush()
    return step
