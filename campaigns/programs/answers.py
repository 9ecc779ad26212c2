"""Recording an answer in an episode: scored, categorised, and the history kept."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any, NamedTuple, cast

from sqlalchemy import Table, bindparam, insert, update
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from campaigns.people.fields import FieldError
from campaigns.people.models import Contact
from campaigns.programs.kinds import kind_named
from campaigns.programs.models import Campaign, Episode, Response

ANSWERABLE_BEFORE = ("selected", "pre_noticed", "invited", "reminded", "answered", "thanked")


# The episode's current answer no longer current; its id. On the table, built once: the ORM's
# UPDATE path (building, keying, evaluating it against the session) cost more CPU than the row.
_RESPONSES = cast(Table, Response.__table__)
_RETIRE_CURRENT = (
    update(_RESPONSES).where(_RESPONSES.c.episode_id == bindparam("retired_episode_id"), _RESPONSES.c.current.is_(True))
    .values(current=False).returning(_RESPONSES.c.id)
)


_EPISODES = cast(Table, Episode.__table__)
_INSERT_RESPONSE = insert(_RESPONSES).returning(_RESPONSES.c.id)


@cache
def _episode_update(columns: tuple[str, ...]) -> Any:
    """The episode's UPDATE of ``columns`` (bound by name), built once per set of columns."""
    return (update(_EPISODES).where(_EPISODES.c.id == bindparam("answered_episode_id"))
            .values({name: bindparam(name) for name in columns}))


class Recorded(NamedTuple):
    response: Response
    previous_id: int | None  # the answer it replaced as current


def record_answer(session: Session, *, episode: Episode, score: int, comment: str | None, medium: str, now: datetime, thanked: bool = False) -> Recorded:
    """Store the answer; a later answer in the same episode replaces it as current. Flushes.

    ``thanked``: the reply that acknowledges the answer thanks the contact (the in-app
    widget), so the episode is marked thanked in the same write. Three statements at
    most: the earlier answer no longer current (only if the episode was answered before:
    the caller holds its row lock, read as it is), the answer, the episode."""
    campaign = session.get(Campaign, episode.campaign_id)
    assert campaign is not None
    kind = kind_named(campaign.kind)
    if not kind.in_scale(score):
        raise FieldError("score", f"{score} is outside the {kind.name.upper()} scale {kind.low}-{kind.high}")
    if episode.state not in ANSWERABLE_BEFORE:
        raise FieldError("episode", f"this survey is {episode.state} and takes no answers")
    # An episode never answered has no current answer to retire: every answer sets ``answered_at``
    # in its own write, and the caller holds the episode's row lock and reads the row as it is.
    previous_id = session.scalar(_RETIRE_CURRENT, {"retired_episode_id": episode.id}) if episode.answered_at is not None else None
    if previous_id is not None and (previous := session.identity_map.get(session.identity_key(Response, previous_id))) is not None:
        set_committed_value(previous, "current", False)  # the row just written: no reload, no second UPDATE
    contact = session.get(Contact, episode.contact_id)
    values = {
        "episode_id": episode.id, "campaign_id": campaign.id, "contact_id": episode.contact_id,
        "account_id": contact.account_id if contact else None, "kind": kind.name, "score": score,
        "category": kind.category(score), "comment": (comment or "").strip() or None, "medium": medium, "current": True, "created_at": now,
    }
    changes: dict[str, object] = {}
    if episode.answered_at is None:
        changes["answered_at"] = now
    state = "answered" if episode.state in ("selected", "pre_noticed", "invited", "reminded") else episode.state
    if thanked:
        if episode.thanked_at is None:
            changes["thanked_at"] = now
        if state == "answered":
            state = "thanked"
    if state != episode.state:
        changes["state"] = state
    # Written as the unit of work would (the episode's UPDATE, then the answer's INSERT), on the
    # tables: a flush of the two objects cost more CPU than the rest of the answer's statements.
    if changes:
        session.execute(_episode_update(tuple(changes)), {"answered_episode_id": episode.id, **changes})
        for key, value in changes.items():
            set_committed_value(episode, key, value)
    response = Response(id=session.scalar(_INSERT_RESPONSE, values), **values)
    # The row as written: persistent once added, nothing to flush. Unlike a flushed new object, a
    # rollback of this transaction leaves it in the session expired (reading it then raises
    # ObjectDeletedError): callers that roll back start again from a fresh session, as every one does.
    make_transient_to_detached(response)
    session.add(response)
    session.flush()  # whatever else the caller left pending (nothing, on the answer routes)
    return Recorded(response, previous_id)
