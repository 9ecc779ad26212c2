"""/console/follow-ups: the task list by owner, category and state; moving a task on with a note."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from api.console.render import page
from api.console.security import WRITE_ROLES, OperatorForm, Viewer
from api.deps import RuntimeDep, SessionDep
from api.params import ObjectId
from campaigns.followups import service
from campaigns.followups.service import CATEGORIES, STATES, TRANSITIONS
from campaigns.people.fields import FieldError
from campaigns.people.models import TeamMember
from campaigns.people.service import NotFound

router = APIRouter(prefix="/console/follow-ups", include_in_schema=False)
PER_PAGE = 50


@router.get("", response_class=HTMLResponse)
def follow_ups(
    request: Request, user: Viewer, session: SessionDep, owner: str = "", category: str = "", state: str = "open", cursor: str | None = None,
) -> Response:
    members = list(session.scalars(select(TeamMember).where(TeamMember.active.is_(True)).order_by(TeamMember.name)))
    owner = owner if owner in {m.email for m in members} or owner == "" else ""
    category = category if category in CATEGORIES else ""
    state = state if state in STATES else ""
    result = service.list_follow_ups(session, cursor=cursor, limit=PER_PAGE, owner=owner or None, category=category or None, state=state or None)
    filters = {"owner": owner, "category": category, "state": state}
    return page(
        request, "follow_ups.html", user=user, title="Follow-ups", active="follow_ups", tasks=service.views(session, result.items),
        members=members, categories=CATEGORIES, states=STATES, transitions=TRANSITIONS, filters=filters,
        next_url=f"/console/follow-ups?{urlencode({**filters, 'cursor': result.next_cursor})}" if result.next_cursor else None,
        this_url=f"/console/follow-ups?{urlencode(filters)}", may_act=user.may(*WRITE_ROLES),
    )


@router.get("/{follow_up_id}", response_class=HTMLResponse)
def follow_up(follow_up_id: ObjectId, request: Request, user: Viewer, session: SessionDep) -> Response:
    """One task: where the detractor alert's link leads."""
    try:
        task = service.get_follow_up(session, follow_up_id)
    except NotFound:
        return page(request, "message.html", user=user, title="No such follow-up", status_code=404, tone="error",
                    message=f"There is no follow-up {follow_up_id}.", back="/console/follow-ups", back_label="All follow-ups")
    members = list(session.scalars(select(TeamMember).where(TeamMember.active.is_(True)).order_by(TeamMember.name)))
    filters = {"owner": "", "category": "", "state": ""}
    return page(
        request, "follow_ups.html", user=user, title=f"Follow-up {follow_up_id}", active="follow_ups", tasks=service.views(session, [task]),
        members=members, categories=CATEGORIES, states=STATES, transitions=TRANSITIONS, filters=filters, next_url=None,
        this_url=f"/console/follow-ups/{follow_up_id}", may_act=user.may(*WRITE_ROLES),
    )


@router.post("/{follow_up_id}")
def move(
    follow_up_id: ObjectId, user: OperatorForm, runtime: RuntimeDep, session: SessionDep,
    state: Annotated[str, Form()] = "", note: Annotated[str, Form(max_length=5000)] = "", back: Annotated[str, Form()] = "/console/follow-ups",
) -> Response:
    target = back if back.startswith("/console/follow-ups") else "/console/follow-ups"
    joiner = "&" if "?" in target else "?"
    try:
        service.change_follow_up(session, follow_up_id=follow_up_id, author=user.email, now=runtime.clock.now(),
                                 state=state or None, note=note.strip() or None)
        session.commit()
    except (FieldError, NotFound) as exc:
        return RedirectResponse(f"{target}{joiner}{urlencode({'error': str(exc)})}", status_code=303)
    done = f"Follow-up {follow_up_id} is now {state}." if state else f"Note added to follow-up {follow_up_id}."
    return RedirectResponse(f"{target}{joiner}{urlencode({'done': done})}#task-{follow_up_id}", status_code=303)
