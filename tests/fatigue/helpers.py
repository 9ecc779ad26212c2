"""Builders for the fatigue tests: campaigns over chosen contacts, transactional sends, dismissals, the ledger."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from campaigns.fatigue.models import FatigueTouch
from campaigns.fatigue.service import save_policy
from campaigns.people.models import Contact
from campaigns.programs import service
from campaigns.programs.models import Episode, Message
from dispatcher.runtime.core import Runtime
from dispatcher.sending.budget import Touch
from dispatcher.sending.lifecycle import launch_campaign
from dispatcher.sending.scheduler import tick
from dispatcher.sending.transactional import TransactionalResult, send_transactional

ALWAYS_OPEN = {"start": "00:00", "end": "23:59", "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]}
# Pre-notice at T-3, invite at T, one reminder at T+3, close at T+7 (thank-yous then).
SHORT_PLAN = [
    {"step": "pre_notice", "offset_days": -3}, {"step": "invite", "offset_days": 0},
    {"step": "reminder", "offset_days": 3}, {"step": "thank_you"}, {"step": "close", "offset_days": 7},
]


def launch(runtime: Runtime, contact_ids: list[int], *, kind: str = "nps", plan: list[dict[str, Any]] | None = None, send_at: datetime | None = None, name: str = "Survey") -> int:
    """Create and launch a one-off campaign over ``contact_ids``, then tick once (selection reserves)."""
    with runtime.sessions() as session:
        spec: dict[str, Any] = {
            "name": name, "survey": {"kind": kind}, "audience": {"contact_ids": contact_ids},
            "sending_window": ALWAYS_OPEN, "plan": plan or SHORT_PLAN, "exclusions": {"min_account_age_days": 0},
        }
        if send_at is not None:
            spec["send_at"] = send_at
        campaign = service.create_campaign(session, spec=spec, now=runtime.clock.now())
        session.commit()
        launch_campaign(runtime, session, campaign.id)
        session.commit()
        campaign_id = campaign.id
    tick(runtime)
    return campaign_id


def transactional(runtime: Runtime, contact_id: int, kind: str = "csat", trigger: str = "ticket_closed", *, hours: bool = False) -> TransactionalResult:
    with runtime.sessions() as session:
        contact = session.get(Contact, contact_id)
        assert contact is not None
        result = send_transactional(
            runtime, session, contact=contact, kind=kind, trigger=trigger, reference=None, channels=["email"], respect_sending_hours=hours,
        )
        session.commit()
    return result


def dismiss(runtime: Runtime, contact_id: int, kind: str = "nps", campaign_id: int | None = None) -> None:
    """The product reports that the contact dismissed an in-app survey prompt."""
    with runtime.sessions() as session:
        contact = session.get(Contact, contact_id)
        assert contact is not None
        now = runtime.clock.now()
        refused = runtime.budget.record_touches(session, [Touch(contact, kind, "dismissal", "in_app", now, campaign_id=campaign_id)], now=now)
        assert refused == {}
        session.commit()


def set_policy(runtime: Runtime, document: dict[str, Any]) -> int:
    with runtime.sessions() as session:
        record = save_policy(session, document=document, key=None, now=runtime.clock.now())
        session.commit()
        return record.policy.version


def touches(session: Session, contact_id: int, *, counting: bool = True) -> list[FatigueTouch]:
    session.rollback()  # a fresh snapshot: SQLite keeps a reading transaction on its first view
    query = select(FatigueTouch).where(FatigueTouch.contact_id == contact_id).order_by(FatigueTouch.at, FatigueTouch.id)
    if counting:
        query = query.where(FatigueTouch.state != "released")
    return list(session.scalars(query))


def episode(session: Session, campaign_id: int, contact_id: int) -> Episode:
    session.rollback()  # a fresh snapshot: SQLite keeps a reading transaction on its first view
    found = session.scalar(select(Episode).where(Episode.campaign_id == campaign_id, Episode.contact_id == contact_id))
    assert found is not None
    return found


def messages(session: Session, campaign_id: int, contact_id: int, step: str) -> list[Message]:
    session.rollback()  # a fresh snapshot: SQLite keeps a reading transaction on its first view
    return list(session.scalars(select(Message).where(Message.campaign_id == campaign_id, Message.contact_id == contact_id, Message.step == step)))
