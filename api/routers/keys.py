"""/v1/keys: API keys (admin only). A new key's token is shown once."""

from __future__ import annotations

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from api.deps import Admin, RuntimeDep, SessionDep
from api.errors import ApiError
from api.params import ObjectId
from campaigns.access.models import ApiKey, Role
from campaigns.access.service import create_key, revoke_key

router = APIRouter(prefix="/v1/keys", tags=["keys"])


class KeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Role
    name: str = Field(default="", max_length=200)


class KeyOut(BaseModel):
    id: int
    name: str
    role: str
    prefix: str
    revoked: bool


class NewKeyOut(KeyOut):
    token: str = Field(description="shown once; store it now")


@router.post("", response_model=NewKeyOut, status_code=201)
def create(body: KeyIn, runtime: RuntimeDep, session: SessionDep, _: Admin) -> NewKeyOut:
    new = create_key(session, role=body.role, name=body.name or f"{body.role.value} key", now=runtime.clock.now())
    session.commit()
    key = new.key
    return NewKeyOut(id=key.id, name=key.name, role=key.role, prefix=key.prefix, revoked=False, token=new.token)


@router.get("", response_model=list[KeyOut])
def list_keys(session: SessionDep, _: Admin) -> list[KeyOut]:
    keys = session.scalars(select(ApiKey).order_by(ApiKey.id))
    return [KeyOut(id=k.id, name=k.name, role=k.role, prefix=k.prefix, revoked=k.revoked_at is not None) for k in keys]


@router.delete("/{key_id}", status_code=204)
def revoke(key_id: ObjectId, runtime: RuntimeDep, session: SessionDep, _: Admin) -> Response:
    if not revoke_key(session, key_id=key_id, now=runtime.clock.now()):
        raise ApiError(404, "not_found", f"no active key with id {key_id}")
    session.commit()
    return Response(status_code=204)
