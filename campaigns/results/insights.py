"""Response rate, account coverage, comment rate and the channel funnel of one campaign."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from campaigns.events.progress import PROGRESS
from campaigns.people.models import Contact
from campaigns.programs.models import Episode, Message, Response

# Messages that ask a contact to answer: the funnel counts these.
ASKING_STEPS = ("invite", "reminder")
FUNNEL = ("sent", "delivered", "opened", "clicked")


def _share(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


@dataclass(frozen=True)
class ChannelFunnel:
    medium: str
    sent: int
    delivered: int
    opened: int
    clicked: int
    answered: int  # answers that came back on this medium
    answer_rate: float | None  # answers per message sent, %

    def as_dict(self) -> dict[str, Any]:
        return dict(vars(self))


@dataclass(frozen=True)
class Insights:
    invited: int
    answered: int
    response_rate: float | None  # %
    accounts_invited: int
    accounts_answered: int
    account_coverage: float | None  # % of invited accounts with at least one score
    comments: int
    comment_rate: float | None  # % of answers with a comment
    channels: list[ChannelFunnel] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {**{k: v for k, v in vars(self).items() if k != "channels"}, "channels": [c.as_dict() for c in self.channels]}


def insights(session: Session, *, campaign_id: int) -> Insights:
    invited, accounts_invited = session.execute(
        select(func.count(Episode.id), func.count(func.distinct(Contact.account_id))).select_from(Episode)
        .join(Contact, Contact.id == Episode.contact_id)
        .where(Episode.campaign_id == campaign_id, Episode.invited_at.is_not(None))
    ).one()
    has_comment = and_(Response.comment.is_not(None), Response.comment != "")
    answered, accounts_answered, comments = session.execute(
        select(func.count(Response.id), func.count(func.distinct(Response.account_id)),
               func.coalesce(func.sum(case((has_comment, 1), else_=0)), 0))
        .where(Response.campaign_id == campaign_id, Response.current.is_(True))
    ).one()
    return Insights(
        invited=invited, answered=answered, response_rate=_share(answered, invited),
        accounts_invited=accounts_invited, accounts_answered=accounts_answered,
        account_coverage=_share(accounts_answered, accounts_invited),
        comments=int(comments), comment_rate=_share(int(comments), answered),
        channels=channel_funnel(session, campaign_id=campaign_id),
    )


def channel_funnel(session: Session, *, campaign_id: int) -> list[ChannelFunnel]:
    """Per medium: asking messages sent → delivered → opened → clicked, and answers that came back on it."""
    reached = {level: PROGRESS[PROGRESS.index(level):] for level in FUNNEL}
    columns = [func.coalesce(func.sum(case((Message.state.in_(states), 1), else_=0)), 0) for states in reached.values()]
    by_medium: dict[str, list[int]] = {}
    for medium, *counts in session.execute(
        select(Message.medium, *columns).where(Message.campaign_id == campaign_id, Message.step.in_(ASKING_STEPS))
        .group_by(Message.medium)
    ):
        by_medium[medium or "unknown"] = [int(c) for c in counts]
    answers = dict(session.execute(
        select(Response.medium, func.count()).where(Response.campaign_id == campaign_id, Response.current.is_(True)).group_by(Response.medium)
    ).all())
    result = []
    for medium in sorted(set(by_medium) | set(answers)):
        sent, delivered, opened, clicked = by_medium.get(medium, [0, 0, 0, 0])
        answered = int(answers.get(medium, 0))
        result.append(ChannelFunnel(medium, sent, delivered, opened, clicked, answered, _share(answered, sent)))
    return result
