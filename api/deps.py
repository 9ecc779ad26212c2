"""Request dependencies: the runtime, a database session, the caller's API key."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from api.errors import ApiError
from campaigns.access.models import ApiKey, Role
from campaigns.access.service import note_use, verify_key
from dispatcher.runtime.clock import utcnow
from dispatcher.runtime.core import Runtime


async def get_runtime(request: Request) -> Runtime:
    # async: an attribute read needs no hop to the thread pool (a sync dependency takes one per request)
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def get_session(runtime: RuntimeDep) -> Iterator[Session]:
    """A session for this request. Routes that write call ``commit()`` before answering,
    so nothing is acknowledged before it is stored; anything left uncommitted is rolled back."""
    with runtime.sessions() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]

bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer pulse_...`")


def _caller(
    session: SessionDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> ApiKey:
    if credentials is None:
        raise ApiError(401, "unauthorized", "missing API key: send `Authorization: Bearer <key>`", headers={"WWW-Authenticate": "Bearer"})
    key = verify_key(session, credentials.credentials)
    if key is None:
        raise ApiError(401, "unauthorized", "unknown or revoked API key", headers={"WWW-Authenticate": "Bearer"})
    note_use(session, key, now=utcnow())
    return key


def require(*roles: Role) -> object:
    """A dependency that lets through only keys with one of ``roles``."""
    allowed = {r.value for r in roles}

    def check(key: Annotated[ApiKey, Depends(_caller)]) -> ApiKey:
        if key.role not in allowed:
            names = ", ".join(sorted(allowed))
            raise ApiError(403, "forbidden", f"the {key.role} role may not do this; it needs one of: {names}")
        return key

    return Depends(check)


READ = (Role.ADMIN, Role.OPS, Role.VIEWER)
WRITE = (Role.ADMIN, Role.OPS)
Reader = Annotated[ApiKey, require(*READ)]
Writer = Annotated[ApiKey, require(*WRITE)]
Admin = Annotated[ApiKey, require(Role.ADMIN)]

# The template studio: marketers (and admins) edit; ops and viewers read.
STUDIO_READ = (Role.ADMIN, Role.MARKETER, Role.OPS, Role.VIEWER)
StudioReader = Annotated[ApiKey, require(*STUDIO_READ)]
StudioEditor = Annotated[ApiKey, require(Role.ADMIN, Role.MARKETER)]
