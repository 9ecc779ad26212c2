"""Follow-up tasks: opened by an answer, assigned, and worked open → contacted → resolved.

One task per answered episode. It follows the episode's current answer (a
changed answer updates its category and response, and a task already resolved
is reopened when the answer turns into the alerting category). Functions flush;
the caller commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaigns.db import id_in, insert_ignoring_conflicts
from campaigns.followups.models import FollowUp
from campaigns.paging import Page, page_by_id
from campaigns.people.fields import FieldError
from campaigns.people.models import Account, Contact, TeamMember
from campaigns.people.service import NotFound
from campaigns.programs.kinds import KINDS
from campaigns.programs.models import Campaign, Response

STATES = ("open", "contacted", "resolved")
# Forward only, a step may be skipped; a resolved task may be reopened.
TRANSITIONS: dict[str, tuple[str, ...]] = {"open": ("contacted", "resolved"), "contacted": ("resolved",), "resolved": ("open",)}
# The category that gets a detractor alert, per survey kind.
ALERTING = {"nps": "detractor", "csat": "unsatisfied", "ces": "hard"}
CATEGORIES = tuple(name for kind in KINDS.values() for name, _, _ in kind.categories)
SYSTEM_AUTHOR = "pulse"
_NEVER = datetime.min.replace(tzinfo=UTC)


def is_alerting(kind: str, category: str | None) -> bool:
    return category is not None and ALERTING.get(kind) == category


def _note(follow_up: FollowUp, *, author: str, text: str, now: datetime) -> None:
    # A new list, so the JSON column sees the change; earlier notes are never edited.
    follow_up.notes = [*(follow_up.notes or []), {"at": now.isoformat(), "author": author, "text": text}]


class _Team:
    """Round robin: the active team member with the fewest unresolved tasks, then the least
    recently assigned, then the lowest id. The team and its load are read at the first pick;
    each pick counts the task it assigns, so a batch of answers spreads like one by one.

    Not locked: two answers assigned at the same instant may both pick the same
    person. The next assignment sees both tasks and evens it out, which is
    cheaper than serialising every answer on a team-wide lock.
    """

    def __init__(self, session: Session) -> None:
        self._session = session
        self._members: list[TeamMember] | None = None
        self._unresolved: dict[int, int] = {}
        self._latest: dict[int, datetime] = {}

    def _load(self) -> list[TeamMember]:
        session = self._session
        self._members = list(session.scalars(select(TeamMember).where(TeamMember.active.is_(True)).order_by(TeamMember.id)))
        if self._members:
            assigned = FollowUp.owner_id.is_not(None)
            self._unresolved = dict(session.execute(  # type: ignore[arg-type]
                select(FollowUp.owner_id, func.count()).where(assigned, FollowUp.state != "resolved").group_by(FollowUp.owner_id)
            ).all())
            self._latest = dict(session.execute(  # type: ignore[arg-type]
                select(FollowUp.owner_id, func.max(FollowUp.assigned_at)).where(assigned).group_by(FollowUp.owner_id)
            ).all())
        return self._members

    def pick(self, now: datetime) -> TeamMember | None:
        members = self._members if self._members is not None else self._load()
        if not members:
            return None
        member = min(members, key=lambda m: (self._unresolved.get(m.id, 0), self._latest.get(m.id) or _NEVER, m.id))
        self._unresolved[member.id] = self._unresolved.get(member.id, 0) + 1
        self._latest[member.id] = now
        return member


def choose_owner(session: Session, account: Account | None, *, now: datetime, team: _Team | None = None) -> tuple[TeamMember | None, str | None]:
    """The account's owner when there is one and still active; otherwise round robin over the team
    (``team``: a batch's, which counts the tasks it assigned)."""
    if account is not None and account.owner_id is not None:
        owner = session.get(TeamMember, account.owner_id)
        if owner is not None and owner.active:
            return owner, "account_owner"
    member = (team or _Team(session)).pick(now)
    return member, "round_robin" if member else None


@dataclass(frozen=True)
class AnswerOutcome:
    follow_up: FollowUp
    created: bool
    reopened: bool


def lock_tasks(session: Session, answers: Sequence[tuple[Response, datetime]]) -> dict[int, FollowUp]:
    """The tasks of these answers' episodes, by episode id, locked (one statement, in episode order);
    an episode without one gets it now, opened by its first answer here (one insert, one read).
    Call under the episodes' row locks. Flushes."""
    episode_ids = sorted({response.episode_id for response, _ in answers})
    tasks = {task.episode_id: task for task in session.scalars(
        select(FollowUp).where(FollowUp.episode_id.in_(episode_ids)).order_by(FollowUp.episode_id).with_for_update()
    )}
    rows: dict[int, dict[str, Any]] = {}
    team = _Team(session)
    for response, now in answers:
        if response.episode_id in tasks or response.episode_id in rows:
            continue
        account = session.get(Account, response.account_id) if response.account_id else None
        owner, how = choose_owner(session, account, team=team, now=now)
        rows[response.episode_id] = {
            "episode_id": response.episode_id, "response_id": response.id, "campaign_id": response.campaign_id,
            "contact_id": response.contact_id, "account_id": response.account_id, "owner_id": owner.id if owner else None,
            "assigned_by": how, "category": response.category, "state": "open", "notes": [], "created_at": now, "updated_at": now,
            "assigned_at": now if owner else None,
        }
    if rows:
        insert_ignoring_conflicts(session, FollowUp, list(rows.values()), unique=["episode_id"])
        tasks.update({task.episode_id: task for task in session.scalars(select(FollowUp).where(FollowUp.episode_id.in_(sorted(rows))))})
    return tasks


def follow_answer(session: Session, *, response: Response, previous: Response | None, now: datetime, tasks: dict[int, FollowUp] | None = None) -> AnswerOutcome:
    """Open the episode's task on its first answer, or make the task follow a changed answer. Flushes.
    ``tasks``: ``lock_tasks`` over a batch of answers that includes this one (answers followed in order)."""
    task = (tasks if tasks is not None else lock_tasks(session, [(response, now)]))[response.episode_id]
    if task.response_id == response.id:  # opened by this answer (a concurrent first answer's task follows it like a change)
        return AnswerOutcome(task, created=True, reopened=False)
    return AnswerOutcome(task, created=False, reopened=_follow_change(session, task, response, previous, now))


def note_comment(session: Session, *, response: Response, text: str, now: datetime) -> None:
    """A comment that arrived after the score (SMS) goes on the episode's task as a note."""
    follow_up = session.scalar(select(FollowUp).where(FollowUp.episode_id == response.episode_id).with_for_update())
    if follow_up is not None:
        _note(follow_up, author=SYSTEM_AUTHOR, text=f"comment: {text}", now=now)
        follow_up.updated_at = now
        session.flush()


def _follow_change(session: Session, follow_up: FollowUp, response: Response, previous: Response | None, now: datetime) -> bool:
    reopened = False
    follow_up.response_id = response.id
    if follow_up.category != response.category:
        before = f"{previous.category} ({previous.score})" if previous else follow_up.category
        _note(follow_up, author=SYSTEM_AUTHOR, text=f"the answer changed: {before} → {response.category} ({response.score})", now=now)
        follow_up.category = response.category
        if follow_up.state == "resolved" and is_alerting(response.kind, response.category):
            follow_up.state, follow_up.resolved_at, reopened = "open", None, True
            _note(follow_up, author=SYSTEM_AUTHOR, text=f"reopened: the answer is now {response.category}", now=now)
    if follow_up.owner_id is None:  # nobody was on the team when it opened
        account = session.get(Account, response.account_id) if response.account_id else None
        owner, how = choose_owner(session, account, now=now)
        if owner is not None:
            follow_up.owner_id, follow_up.assigned_by, follow_up.assigned_at = owner.id, how, now
    follow_up.updated_at = now
    session.flush()
    return reopened


def get_follow_up(session: Session, follow_up_id: int, *, lock: bool = False) -> FollowUp:
    follow_up = session.get(FollowUp, follow_up_id, with_for_update=lock)
    if follow_up is None:
        raise NotFound(f"no follow-up with id {follow_up_id}")
    return follow_up


def change_follow_up(
    session: Session, *, follow_up_id: int, author: str, now: datetime,
    state: str | None = None, note: str | None = None, owner_id: int | None = None,
) -> FollowUp:
    """Move the task, add a note, or reassign it. Raises ``FieldError`` naming the field. Flushes."""
    follow_up = get_follow_up(session, follow_up_id, lock=True)
    if state is not None and state != follow_up.state:  # the same state again is a no-op, so PATCH can be retried
        if state not in TRANSITIONS.get(follow_up.state, ()):
            allowed = " or ".join(TRANSITIONS[follow_up.state])
            raise FieldError("state", f"a {follow_up.state} follow-up cannot become {state}; it can become {allowed}")
        follow_up.state = state
        if state == "contacted":
            follow_up.contacted_at = now
        elif state == "resolved":
            follow_up.resolved_at = now
            follow_up.contacted_at = follow_up.contacted_at or now
        else:
            follow_up.resolved_at = None
    if owner_id is not None and owner_id != follow_up.owner_id:
        owner = session.get(TeamMember, owner_id)
        if owner is None or not owner.active:
            raise FieldError("owner_id", f"no active team member with id {owner_id}")
        follow_up.owner_id, follow_up.assigned_by, follow_up.assigned_at = owner.id, "api", now
    if note is not None:
        text = note.strip()
        if not text:
            raise FieldError("note", "is empty")
        _note(follow_up, author=author, text=text, now=now)
    follow_up.updated_at = now
    session.flush()
    return follow_up


def _owner_id(session: Session, owner: str) -> int:
    value = owner.strip()
    if (member_id := id_in(value)) is not None:
        return member_id
    found = session.scalar(select(TeamMember.id).where(func.lower(TeamMember.email) == value.lower()))
    if found is None:
        raise FieldError("owner", f"no team member with id or email {value[:320]}")
    return found


def list_follow_ups(
    session: Session, *, cursor: str | None, limit: int, owner: str | None = None, category: str | None = None,
    state: str | None = None, campaign_id: int | None = None,
) -> Page:
    """Oldest first, by cursor. ``owner`` is a team member's id or email."""
    query = select(FollowUp)
    if owner is not None:
        query = query.where(FollowUp.owner_id == _owner_id(session, owner))
    if category is not None:
        if category not in CATEGORIES:
            raise FieldError("category", f"unknown category {category!r}; use one of {', '.join(CATEGORIES)}")
        query = query.where(FollowUp.category == category)
    if state is not None:
        query = query.where(FollowUp.state == state)
    if campaign_id is not None:
        query = query.where(FollowUp.campaign_id == campaign_id)
    return page_by_id(session, query, FollowUp.id, cursor=cursor, limit=limit)


@dataclass(frozen=True)
class FollowUpView:
    """A task with what a CS person needs to act on it."""

    follow_up: FollowUp
    response: Response
    campaign: Campaign
    contact: Contact
    account: Account | None
    owner: TeamMember | None


def _by_id(session: Session, model: Any, ids: set[int | None]) -> dict[int, Any]:
    wanted = {i for i in ids if i is not None}
    return {row.id: row for row in session.scalars(select(model).where(model.id.in_(wanted)))} if wanted else {}


def views(session: Session, rows: list[FollowUp]) -> list[FollowUpView]:
    """The tasks with their answer, campaign, contact, account and owner, loaded in a few queries."""
    responses = _by_id(session, Response, {r.response_id for r in rows})
    campaigns = _by_id(session, Campaign, {r.campaign_id for r in rows})
    contacts = _by_id(session, Contact, {r.contact_id for r in rows})
    accounts = _by_id(session, Account, {r.account_id for r in rows})
    owners = _by_id(session, TeamMember, {r.owner_id for r in rows})
    return [
        FollowUpView(r, responses[r.response_id], campaigns[r.campaign_id], contacts[r.contact_id],
                     accounts.get(r.account_id) if r.account_id else None, owners.get(r.owner_id) if r.owner_id else None)
        for r in rows
    ]
