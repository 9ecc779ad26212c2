"""A campaign's messages, filtered and paged: what went to whom, on which medium, and why."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from campaigns.paging import Page, page_by_id
from campaigns.people.fields import FieldError
from campaigns.programs.models import Message, PlanStep

STATES = ("queued", "sending", "sent", "delivered", "opened", "clicked", "answered", "skipped", "retrying", "failed", "unknown")
MEDIA = ("email", "sms", "in_app", "slack")
STEP_TYPES = ("kickoff", "pre_notice", "invite", "reminder", "thank_you", "summary", "you_said_we_did", "alert", "detractor_alert")


def list_messages(
    session: Session, *, campaign_id: int, step: str | None = None, medium: str | None = None, state: str | None = None,
    cursor: str | None, limit: int,
) -> Page:
    """One page of the campaign's messages in id order. ``step`` is a plan step's key
    (``reminder_1``) or a step type (``reminder``: every reminder). Raises ``FieldError``
    naming the filter for an unknown value, ``BadCursor`` for a cursor not ours."""
    query = select(Message).where(Message.campaign_id == campaign_id)
    if step is not None:
        keyed = list(session.scalars(select(PlanStep.id).where(PlanStep.campaign_id == campaign_id, PlanStep.key == step)))
        if keyed:
            query = query.where(Message.step_id.in_(keyed))
        elif step in STEP_TYPES:
            query = query.where(Message.step == step)
        else:
            raise FieldError("step", f"no step {step!r} in this campaign; give a step key such as reminder_1 or a type such as invite")
    if medium is not None:
        if medium not in MEDIA:
            raise FieldError("medium", f"unknown medium {medium!r}; use one of {', '.join(MEDIA)}")
        query = query.where(Message.medium == medium)
    if state is not None:
        if state not in STATES:
            raise FieldError("state", f"unknown state {state!r}; use one of {', '.join(STATES)}")
        query = query.where(Message.state == state)
    return page_by_id(session, query, Message.id, cursor=cursor, limit=limit)
