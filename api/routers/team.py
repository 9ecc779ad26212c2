"""/v1/team: the CS team members who own accounts and get alerts."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import Reader, RuntimeDep, SessionDep, Writer
from api.errors import ApiError
from api.schemas.people import TeamMemberIn, TeamMemberOut
from campaigns.access.models import Role
from campaigns.people import service

router = APIRouter(prefix="/v1/team", tags=["team"])


@router.get("", response_model=list[TeamMemberOut])
def list_team(session: SessionDep, _: Reader) -> list[TeamMemberOut]:
    return [TeamMemberOut.of(m) for m in service.list_team(session)]


@router.post("", response_model=TeamMemberOut, summary="Add a team member, or update one by email")
def upsert_member(body: TeamMemberIn, runtime: RuntimeDep, session: SessionDep, key: Writer) -> TeamMemberOut:
    if body.console_role is not None and key.role != Role.ADMIN.value:
        raise ApiError(403, "forbidden", "console_role: only an admin key may set a member's console role")
    member = service.upsert_team_member(
        session, name=body.name, email=body.email, slack_handle=body.slack_handle, now=runtime.clock.now()
    )
    if body.console_role is not None:
        member.console_role = body.console_role
    session.commit()
    return TeamMemberOut.of(member)
