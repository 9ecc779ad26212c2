"""The database-backed store behind the in-app channel, and how long a prompt stays up."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from campaigns.db import dialect_insert
from campaigns.programs.models import Campaign, InAppPrompt, Message, PlanStep
from channels.in_app import PromptStoreUnavailable
from dispatcher.runtime.clock import Clock


class DatabasePromptStore:
    def __init__(self, sessions: sessionmaker[Session], clock: Clock) -> None:
        self._sessions = sessions
        self._clock = clock

    def save_prompt(self, *, message_id: str, contact_external_id: str, payload: Mapping[str, Any], expires_at: datetime) -> str:
        """Idempotent per message: a second save returns the first prompt's id."""
        try:
            with self._sessions() as session, session.begin():
                session.execute(
                    dialect_insert(session, InAppPrompt).values(
                        message_id=int(message_id), contact_external_id=contact_external_id, payload=dict(payload),
                        expires_at=expires_at, status="pending", created_at=self._clock.now(),
                    ).on_conflict_do_nothing(index_elements=["message_id"])
                )
                prompt_id = session.scalar(select(InAppPrompt.id).where(InAppPrompt.message_id == int(message_id)))
        except OperationalError as exc:
            raise PromptStoreUnavailable(str(exc)) from exc
        return str(prompt_id)


# A prompt gives way to the next step that speaks to the contact (or the close).
NEXT_STEPS = ("pre_notice", "invite", "reminder", "close")
AT_CLOSE_PROMPT = timedelta(days=7)  # a thank-you or a you-said-we-did after close
TRANSACTIONAL_PROMPT = timedelta(days=7)  # the transactional plan closes a week after its invite


def prompt_expiries(session: Session, messages: Sequence[Message], campaigns: Mapping[int, Campaign], now: datetime) -> dict[int, datetime]:
    """When each in-app message's prompt ends: when the next step of its plan (same wave) is due.

    Two queries for the whole chunk. A step with nothing after it (at close, or
    a plan without a close) keeps its prompt a week; transactional prompts last
    a week from their request.
    """
    from dispatcher.sending.contents import close_date

    in_app = [m for m in messages if m.medium == "in_app"]
    step_ids = {m.step_id for m in in_app if m.step_id is not None}
    steps = {s.id: s for s in session.scalars(select(PlanStep).where(PlanStep.id.in_(step_ids)))} if step_ids else {}
    following: dict[tuple[int, int], list[datetime]] = {}
    if steps:
        rows = session.execute(
            select(PlanStep.campaign_id, PlanStep.wave, PlanStep.due_at)
            .where(PlanStep.campaign_id.in_({s.campaign_id for s in steps.values()}), PlanStep.step.in_(NEXT_STEPS), PlanStep.status != "cancelled")
        )
        for campaign_id, wave, due_at in rows:
            following.setdefault((campaign_id, wave), []).append(due_at)
    ends: dict[int, datetime] = {}
    for message in in_app:
        campaign = campaigns.get(message.campaign_id) if message.campaign_id is not None else None
        step = steps.get(message.step_id) if message.step_id is not None else None
        later = [due for due in following.get((step.campaign_id, step.wave), []) if due > step.due_at] if step else []
        if later:
            ends[message.id] = min(later)
        elif campaign is not None and campaign.mode == "transactional":
            ends[message.id] = message.created_at + TRANSACTIONAL_PROMPT
        elif step is not None or campaign is None or campaign.status == "closed":
            ends[message.id] = now + AT_CLOSE_PROMPT
        else:
            ends[message.id] = datetime.combine(close_date(campaign) + timedelta(days=1), time(0), tzinfo=UTC)
    return ends
