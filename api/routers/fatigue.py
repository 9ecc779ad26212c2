"""/v1/fatigue-policy (admin) and /v1/contacts/{id}/fatigue: the global fatigue budget."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import Admin, Reader, RuntimeDep, SessionDep
from api.params import ObjectId
from api.schemas.fatigue import (
    ContactFatigueOut,
    FatiguePolicyHistory,
    FatiguePolicyIn,
    FatiguePolicyOut,
)
from campaigns.fatigue import service
from campaigns.fatigue.outlook import contact_fatigue
from campaigns.people.service import get_contact

router = APIRouter(tags=["fatigue"])


@router.get("/v1/fatigue-policy", response_model=FatiguePolicyOut, summary="The fatigue policy in force")
def get_policy(session: SessionDep, _: Admin) -> FatiguePolicyOut:
    return FatiguePolicyOut.of(service.current_record(session))


@router.put(
    "/v1/fatigue-policy", response_model=FatiguePolicyOut,
    summary="Replace the fatigue policy (a new version; the old ones are kept with who and when)",
)
def put_policy(body: FatiguePolicyIn, runtime: RuntimeDep, session: SessionDep, key: Admin) -> FatiguePolicyOut:
    record = service.save_policy(session, document=body.document(), key=key, now=runtime.clock.now())
    session.commit()
    return FatiguePolicyOut.of(record)


@router.get("/v1/fatigue-policy/history", response_model=FatiguePolicyHistory, summary="Every version, newest first")
def policy_history(session: SessionDep, _: Admin) -> FatiguePolicyHistory:
    return FatiguePolicyHistory(items=[FatiguePolicyOut.of(r) for r in service.history(session)])


@router.get(
    "/v1/contacts/{contact_id}/fatigue", response_model=ContactFatigueOut,
    summary="A contact's survey touches and, per kind, the earliest date it may be surveyed again",
)
def contact_outlook(contact_id: ObjectId, runtime: RuntimeDep, session: SessionDep, _: Reader) -> ContactFatigueOut:
    contact = get_contact(session, contact_id)
    return ContactFatigueOut.of(contact.id, contact_fatigue(session, contact, now=runtime.clock.now()))
