"""Who answered what: score change since their last answer, the lists to act on, the comments.

Lists come back as rows (``AnswerRow``) for pages and CSV exports; pages ask for
a limit, the CSV export for everything.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Select, case, func, select
from sqlalchemy.orm import Session, aliased

from campaigns.followups.models import FollowUp
from campaigns.people.models import Account, Contact, TeamMember
from campaigns.programs.kinds import SurveyKind
from campaigns.programs.models import Campaign, Response
from campaigns.results.breakdowns import answers_of

Earlier = aliased(Response, name="earlier")
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
    query = (
        select(Response.id, Response.created_at, Response.score, Response.category, Response.comment, Response.medium,
               Contact.id, Contact.external_id, Contact.name, Contact.email, Contact.role, Contact.locale,
               Account.external_id, Account.name, Account.segment, Account.tier, Account.renewal_on, Owner.email,
               FollowUp.state, FollowUp.notes)
        .select_from(Response).join(Contact, Contact.id == Response.contact_id)
        .outerjoin(Account, Account.id == Response.account_id).outerjoin(Owner, Owner.id == Account.owner_id)
        .outerjoin(FollowUp, FollowUp.episode_id == Response.episode_id)
        .where(*answers_of(campaign_id))
    )
    return cast("Select[Any]", query)  # twenty columns: too wide for a precise type


def _row(values: Any, previous: tuple[int | None, str | None] = (None, None)) -> AnswerRow:
    fields = list(values[:19]) + [list(values[19] or []), previous[0], previous[1]]
    return AnswerRow(*fields)


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


def list_totals(session: Session, *, campaign_id: int, kind: SurveyKind, today: date) -> dict[str, int]:
    """How many answers each list to act on holds, from one scan."""
    positive, negative = kind.categories[-1][0], kind.categories[0][0]
    renews = lambda days: Account.renewal_on.between(today, today + timedelta(days=days))
    has_comment = Response.comment.is_not(None) & (Response.comment != "")
    columns = {
        "advocates": (Response.category == positive) & has_comment,
        "at_risk": (Response.category == negative) & renews(90),
        "upsell": (Response.category == positive) & renews(120),
    }
    row = session.execute(
        select(*[func.coalesce(func.sum(case((condition, 1), else_=0)), 0) for condition in columns.values()])
        .select_from(Response).outerjoin(Account, Account.id == Response.account_id).where(*answers_of(campaign_id))
    ).one()
    return {name: int(value) for name, value in zip(columns, row, strict=True)}


def _category_rank(kind: SurveyKind, column: Any) -> Any:
    return case(*[(column == name, i) for i, (name, _, _) in enumerate(kind.categories)], else_=-1)


def _previous(campaign: Campaign, kind: SurveyKind) -> Any:
    """Each contact's latest answer of the same kind given before this campaign launched, in another campaign.

    One window-function pass (ROW_NUMBER per contact), joined by hash, instead of a lookup per answer.
    """
    since = campaign.launched_at or campaign.created_at
    ranked = (
        select(Earlier.contact_id.label("contact_id"), Earlier.score.label("score"), Earlier.category.label("category"),
               func.row_number().over(partition_by=Earlier.contact_id, order_by=(Earlier.created_at.desc(), Earlier.id.desc())).label("rank"))
        .where(Earlier.kind == kind.name, Earlier.current.is_(True), Earlier.campaign_id != campaign.id, Earlier.created_at < since)
        .subquery("ranked")
    )
    return select(ranked.c.contact_id, ranked.c.score, ranked.c.category).where(ranked.c.rank == 1).subquery("previous")


LISTED_MOVES = ("improved", "worse")


def score_change(session: Session, *, campaign: Campaign, kind: SurveyKind, limit: int) -> tuple[dict[str, int], dict[str, list[AnswerRow]]]:
    """Among contacts who answered the same kind before: how many moved up a category, stayed, or moved down,
    and the first ``limit`` who improved and who got worse. One statement: the counts ride along as window totals."""
    previous = _previous(campaign, kind)
    now_rank, then_rank = _category_rank(kind, Response.category), _category_rank(kind, previous.c.category)
    movement = case((now_rank > then_rank, "improved"), (now_rank < then_rank, "worse"), else_="same")
    moved = (
        select(Response.id.label("response_id"), movement.label("movement"), previous.c.score.label("score"), previous.c.category.label("category"),
               func.row_number().over(partition_by=movement, order_by=Response.id).label("n"),
               func.count().over(partition_by=movement).label("total"))
        .select_from(Response).join(previous, previous.c.contact_id == Response.contact_id).where(*answers_of(campaign.id))
        .subquery("moved")
    )
    query = (_rows(campaign.id).add_columns(moved.c.score, moved.c.category, moved.c.movement, moved.c.total)
             .join(moved, moved.c.response_id == Response.id)
             .where(((moved.c.n <= limit) & moved.c.movement.in_(LISTED_MOVES)) | (moved.c.n == 1))
             .order_by(moved.c.movement, moved.c.n))
    counts = {"improved": 0, "same": 0, "worse": 0}
    lists: dict[str, list[AnswerRow]] = {m: [] for m in LISTED_MOVES}
    for values in session.execute(query):
        move = str(values[22])
        counts[move] = int(values[23])
        if move in lists and len(lists[move]) < limit:
            lists[move].append(_row(values[:20], (values[20], values[21])))
    return counts, lists
