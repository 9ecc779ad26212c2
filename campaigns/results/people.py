"""Who answered what: score change since their last answer, the lists to act on, the comments.

Lists come back as rows (``AnswerRow``) for pages and CSV exports; pages ask for
a limit, the CSV export for everything.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, case, func, select
from sqlalchemy.orm import Session, aliased

from campaigns.followups.models import FollowUp
from campaigns.people.models import Account, Contact, TeamMember
from campaigns.programs.kinds import SurveyKind
from campaigns.programs.models import Response
from campaigns.results.breakdowns import answers_of

Earlier = aliased(Response, name="earlier")
Previous = aliased(Response, name="previous")
Owner = aliased(TeamMember, name="owner")


@dataclass(frozen=True)
class AnswerRow:
    response_id: int
    answered_at: datetime
    score: int
    category: str
    comment: str | None
    medium: str
    contact_id: int
    contact_external_id: str
    contact_name: str | None
    contact_email: str | None
    contact_role: str | None
    locale: str
    account_external_id: str | None
    account_name: str | None
    segment: str | None
    tier: str | None
    renewal_on: date | None
    owner_email: str | None
    follow_up_state: str | None
    follow_up_notes: list[dict[str, Any]]
    previous_score: int | None = None
    previous_category: str | None = None

    def as_dict(self) -> dict[str, Any]:
        values = dict(vars(self))
        values["answered_at"] = self.answered_at.isoformat()
        values["renewal_on"] = self.renewal_on.isoformat() if self.renewal_on else None
        return values


def _rows(campaign_id: int) -> Select[Any]:
    return (
        select(Response.id, Response.created_at, Response.score, Response.category, Response.comment, Response.medium,
               Contact.id, Contact.external_id, Contact.name, Contact.email, Contact.role, Contact.locale,
               Account.external_id, Account.name, Account.segment, Account.tier, Account.renewal_on, Owner.email,
               FollowUp.state, FollowUp.notes)
        .select_from(Response).join(Contact, Contact.id == Response.contact_id)
        .outerjoin(Account, Account.id == Response.account_id).outerjoin(Owner, Owner.id == Account.owner_id)
        .outerjoin(FollowUp, FollowUp.episode_id == Response.episode_id)
        .where(*answers_of(campaign_id))
    )


def _row(values: Any, previous: tuple[int | None, str | None] = (None, None)) -> AnswerRow:
    return AnswerRow(*values[:19], list(values[19] or []), previous[0], previous[1])


def answer_rows(
    session: Session, *, campaign_id: int, category: str | None = None, segment: str | None = None,
    with_comment: bool = False, limit: int | None = None, offset: int = 0,
) -> list[AnswerRow]:
    """The campaign's current answers with contact, account and follow-up, newest first."""
    query = _rows(campaign_id)
    if category:
        query = query.where(Response.category == category)
    if segment:
        query = query.where(Account.segment == segment) if segment != "unknown" else query.where(Account.segment.is_(None))
    if with_comment:
        query = query.where(Response.comment.is_not(None), Response.comment != "")
    query = query.order_by(Response.created_at.desc(), Response.id.desc()).offset(offset)
    if limit is not None:
        query = query.limit(limit)
    return [_row(v) for v in session.execute(query)]


def iter_answer_rows(session: Session, *, campaign_id: int, chunk: int = 1000) -> Iterator[AnswerRow]:
    """Every current answer of the campaign, oldest first, fetched ``chunk`` rows at a time (for exports)."""
    query = _rows(campaign_id).order_by(Response.id).execution_options(yield_per=chunk)
    for values in session.execute(query):
        yield _row(values)


def count_answers(session: Session, *, campaign_id: int, category: str | None = None, segment: str | None = None, with_comment: bool = False) -> int:
    query = select(func.count(Response.id)).select_from(Response).outerjoin(Account, Account.id == Response.account_id).where(*answers_of(campaign_id))
    if category:
        query = query.where(Response.category == category)
    if segment:
        query = query.where(Account.segment == segment) if segment != "unknown" else query.where(Account.segment.is_(None))
    if with_comment:
        query = query.where(Response.comment.is_not(None), Response.comment != "")
    return session.scalar(query) or 0


LIST_NAMES = ("advocates", "at_risk", "upsell")
LIST_LABELS = {
    "advocates": "Advocacy candidates", "at_risk": "At risk: renewing within 90 days",
    "upsell": "Early renewal and upsell: renewing within 120 days",
}


def action_list(session: Session, *, campaign_id: int, kind: SurveyKind, name: str, today: date, limit: int | None = None) -> list[AnswerRow]:
    """``advocates``: the most positive answers with a comment (references, reviews);
    ``at_risk``: the most negative answers whose account renews within 90 days;
    ``upsell``: the most positive answers whose account renews within 120 days."""
    positive, negative = kind.categories[-1][0], kind.categories[0][0]
    query = _rows(campaign_id)
    if name == "advocates":
        query = query.where(Response.category == positive, Response.comment.is_not(None), Response.comment != "")
        query = query.order_by(Response.score.desc(), Response.created_at.desc(), Response.id)
    elif name in ("at_risk", "upsell"):
        days, category = (90, negative) if name == "at_risk" else (120, positive)
        query = query.where(Response.category == category, Account.renewal_on >= today, Account.renewal_on <= today + timedelta(days=days))
        query = query.order_by(Account.renewal_on, Response.score if name == "at_risk" else Response.score.desc(), Response.id)
    else:
        raise ValueError(f"unknown list {name!r}; use one of {', '.join(LIST_NAMES)}")
    if limit is not None:
        query = query.limit(limit)
    return [_row(v) for v in session.execute(query)]


def count_list(session: Session, *, campaign_id: int, kind: SurveyKind, name: str, today: date) -> int:
    positive, negative = kind.categories[-1][0], kind.categories[0][0]
    query = select(func.count(Response.id)).select_from(Response).outerjoin(Account, Account.id == Response.account_id).where(*answers_of(campaign_id))
    if name == "advocates":
        query = query.where(Response.category == positive, Response.comment.is_not(None), Response.comment != "")
    else:
        days, category = (90, negative) if name == "at_risk" else (120, positive)
        query = query.where(Response.category == category, Account.renewal_on >= today, Account.renewal_on <= today + timedelta(days=days))
    return session.scalar(query) or 0


def _category_rank(kind: SurveyKind, column: Any) -> Any:
    return case(*[(column == name, i) for i, (name, _, _) in enumerate(kind.categories)], else_=-1)


def _previous_answer(campaign_id: int) -> Any:
    """The time of each answer's contact's latest earlier answer of the same kind in another campaign."""
    return (
        select(func.max(Earlier.created_at))
        .where(Earlier.contact_id == Response.contact_id, Earlier.kind == Response.kind, Earlier.current.is_(True),
               Earlier.campaign_id != campaign_id, Earlier.created_at < Response.created_at)
        .correlate(Response).scalar_subquery()
    )


def _with_previous(campaign_id: int) -> Any:
    return and_(Previous.contact_id == Response.contact_id, Previous.kind == Response.kind, Previous.current.is_(True),
                Previous.campaign_id != campaign_id, Previous.created_at == _previous_answer(campaign_id))


def score_change_counts(session: Session, *, campaign_id: int, kind: SurveyKind) -> dict[str, int]:
    """Among contacts who answered the same kind before: how many moved up a category, stayed, or moved down."""
    now_rank, then_rank = _category_rank(kind, Response.category), _category_rank(kind, Previous.category)
    movement = case((now_rank > then_rank, "improved"), (now_rank < then_rank, "worse"), else_="same").label("movement")
    rows = session.execute(
        select(movement, func.count(func.distinct(Response.id))).select_from(Response)
        .join(Previous, _with_previous(campaign_id)).where(*answers_of(campaign_id)).group_by(movement)
    ).all()
    counts = {"improved": 0, "same": 0, "worse": 0}
    counts.update({str(m): int(c) for m, c in rows})
    return counts


def score_change_rows(session: Session, *, campaign_id: int, kind: SurveyKind, movement: str, limit: int | None = None) -> list[AnswerRow]:
    now_rank, then_rank = _category_rank(kind, Response.category), _category_rank(kind, Previous.category)
    condition = {"improved": now_rank > then_rank, "worse": now_rank < then_rank, "same": now_rank == then_rank}[movement]
    query = (_rows(campaign_id).add_columns(Previous.score, Previous.category).join(Previous, _with_previous(campaign_id))
             .where(condition).order_by(Response.id))
    if limit is not None:
        query = query.limit(limit)
    return [_row(v[:20], (v[20], v[21])) for v in session.execute(query)]
