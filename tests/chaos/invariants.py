"""What must hold after any crash: checked from the database and the provider fake alone.

For one campaign whose only contact step is the invite:

- every selected episode has exactly one invite row, in a final state: sent,
  skipped with a reason, failed, or unknown (nothing left queued, sending or retrying);
- no (episode, step) has two rows and no message exists outside the plan
  (an excluded episode, or a step the plan does not have): "unplanned pairs";
- SendGrid accepted each message at most once (no duplicate delivery), and every
  ``sent`` message was accepted;
- ``unknown`` is only for a request that was in flight: the provider got it but
  Pulse never recorded the answer. An ``unknown`` that never reached the provider
  was lost, not uncertain;
- the fatigue ledger holds no violation (the independent audit in ``tests/fatigue/audit.py``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaigns.programs.models import Campaign, Episode, Message
from channels.sendgrid import MESSAGE_ID_ARG
from tests.fakes.sendgrid_fake import RecordedRequest
from tests.fatigue.audit import audit

FINAL = {"sent", "skipped", "failed", "unknown"}


@dataclass
class Figures:
    episodes: int = 0
    states: Counter[str] = field(default_factory=Counter)
    duplicate_deliveries: int = 0
    duplicate_rows: int = 0
    unplanned_pairs: int = 0
    missing_or_unfinished: int = 0
    sent_never_accepted: int = 0
    skipped_without_reason: int = 0
    unknown_in_flight: int = 0
    unknown_never_requested: int = 0
    fatigue_violations: int = 0

    def add(self, other: Figures) -> None:
        for name, value in vars(other).items():
            if name == "states":
                self.states.update(value)
            else:
                setattr(self, name, getattr(self, name) + value)

    def line(self) -> str:
        return (
            f"episodes={self.episodes} states={dict(sorted(self.states.items()))} "
            f"duplicate_deliveries={self.duplicate_deliveries} duplicate_rows={self.duplicate_rows} "
            f"unplanned_pairs={self.unplanned_pairs} missing_or_unfinished={self.missing_or_unfinished} "
            f"sent_never_accepted={self.sent_never_accepted} skipped_without_reason={self.skipped_without_reason} "
            f"fatigue_violations={self.fatigue_violations} "
            f"unknown_in_flight={self.unknown_in_flight} unknown_never_requested={self.unknown_never_requested}"
        )


def accepted_message_ids(requests: list[RecordedRequest]) -> Counter[str]:
    """How often the provider accepted each Pulse message id."""
    return Counter(
        str(p.get("custom_args", {}).get(MESSAGE_ID_ARG)) for r in requests for p in r.body["personalizations"]
    )


def check_campaign(session: Session, campaign_id: int, requests: list[RecordedRequest], *, in_flight_ids: set[str] | None = None) -> Figures:
    """The figures for one campaign; ``requests`` are every request the fake accepted.

    ``in_flight_ids``: message ids in requests the provider received (accepted
    or still being answered when the sender died); default: the accepted ones.
    """
    session.rollback()
    figures = Figures()
    campaign = session.get(Campaign, campaign_id)
    assert campaign is not None
    plan_steps = {s["step"] for s in campaign.plan or []}
    selected = set(session.scalars(select(Episode.id).where(Episode.campaign_id == campaign_id, Episode.state != "excluded")))
    figures.episodes = len(selected)
    rows: Sequence[Any] = session.execute(
        select(Message.id, Message.episode_id, Message.step, Message.step_id, Message.state, Message.skip_reason)
        .where(Message.campaign_id == campaign_id, Message.episode_id.is_not(None))
    ).all()
    per_pair = Counter((r.episode_id, r.step_id or r.step) for r in rows)
    figures.duplicate_rows = sum(n - 1 for n in per_pair.values() if n > 1)
    figures.unplanned_pairs = sum(1 for r in rows if r.episode_id not in selected or r.step not in plan_steps)
    invites = {r.episode_id: r for r in rows if r.step == "invite"}
    figures.missing_or_unfinished = sum(1 for e in selected if e not in invites or invites[e].state not in FINAL)
    accepted = accepted_message_ids(requests)
    reached = in_flight_ids if in_flight_ids is not None else set(accepted)
    ours = {str(r.id) for r in rows}
    figures.duplicate_deliveries = sum(n - 1 for key, n in accepted.items() if key in ours and n > 1)
    for r in rows:
        figures.states[r.state] += 1
        key = str(r.id)
        if r.state == "sent" and key not in accepted:
            figures.sent_never_accepted += 1
        elif r.state == "skipped" and not r.skip_reason:
            figures.skipped_without_reason += 1
        elif r.state == "unknown":
            if key in reached:
                figures.unknown_in_flight += 1
            else:
                figures.unknown_never_requested += 1
    figures.fatigue_violations = len(audit(session))
    return figures


def message_count(session: Session, campaign_id: int) -> int:
    return session.scalar(select(func.count()).select_from(Message).where(Message.campaign_id == campaign_id)) or 0
