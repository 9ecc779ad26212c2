"""/v1/follow-ups: the tasks every answer opens, worked open → contacted → resolved."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import Reader, RuntimeDep, SessionDep, Writer
from api.params import IdFilter, ObjectId
from api.schemas.follow_ups import FollowUpChange, FollowUpOut, FollowUpPage, State
from campaigns.followups import service

router = APIRouter(prefix="/v1/follow-ups", tags=["follow-ups"])


@router.get("", response_model=FollowUpPage, summary="Follow-up tasks, oldest first")
def list_follow_ups(
    session: SessionDep, _: Reader,
    owner: Annotated[str | None, Query(description="a team member's id or email")] = None,
    category: Annotated[str | None, Query(description="promoter, passive, detractor, satisfied, unsatisfied, easy, neutral, hard")] = None,
    state: State | None = None, campaign_id: IdFilter = None,
    cursor: str | None = None, limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> FollowUpPage:
    page = service.list_follow_ups(session, cursor=cursor, limit=limit, owner=owner, category=category, state=state, campaign_id=campaign_id)
    return FollowUpPage(items=[FollowUpOut.of(v) for v in service.views(session, page.items)], next_cursor=page.next_cursor)


@router.get("/{follow_up_id}", response_model=FollowUpOut)
def get(follow_up_id: ObjectId, session: SessionDep, _: Reader) -> FollowUpOut:
    return FollowUpOut.of(service.views(session, [service.get_follow_up(session, follow_up_id)])[0])


@router.patch("/{follow_up_id}", response_model=FollowUpOut, summary="Move the task on, add a note, or reassign it")
def change(follow_up_id: ObjectId, body: FollowUpChange, runtime: RuntimeDep, session: SessionDep, key: Writer) -> FollowUpOut:
    follow_up = service.change_follow_up(
        session, follow_up_id=follow_up_id, author=key.name, now=runtime.clock.now(),
        state=body.state, note=body.note, owner_id=body.owner_id,
    )
    session.commit()
    return FollowUpOut.of(service.views(session, [follow_up])[0])
