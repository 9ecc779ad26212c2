"""POST /v1/surveys/send: a transactional survey for one contact."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Header
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from api.deps import RuntimeDep, SessionDep, Writer
from api.idempotency import idempotent
from campaigns.db import ID_MAX
from campaigns.people.fields import FieldError
from campaigns.programs.reach import MEDIA
from dispatcher.sending.transactional import find_contact, send_transactional

router = APIRouter(prefix="/v1/surveys", tags=["surveys"])


class TransactionalIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    contact_id: int | None = Field(default=None, ge=1, le=ID_MAX)
    contact_external_id: str | None = None
    kind: Literal["csat", "ces", "nps"]
    trigger: str = Field(min_length=1, max_length=100, description="what happened, e.g. ticket_closed")
    reference: str | None = Field(default=None, max_length=200, description="e.g. the ticket id")
    channels: list[str] = Field(default=["email"], min_length=1, description="the media allowed, in order of preference")
    channel_choice: Literal["learned", "ordered"] = Field(default="learned", description="as for campaigns: by engagement, or the first reachable")
    respect_sending_hours: bool = True


@router.post("/send", status_code=202, responses={200: {"description": "Nothing was queued: the contact is excluded or refused by the budget (the body says why)"}}, summary="Send one survey to one contact now (CSAT after a ticket, CES after onboarding)")
def send(
    body: TransactionalIn, runtime: RuntimeDep, session: SessionDep, _: Writer,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> JSONResponse:
    for index, medium in enumerate(body.channels):
        if medium not in MEDIA:
            raise FieldError(f"channels[{index}]", f"unknown channel {medium!r}; use email, sms or in_app")

    def run() -> tuple[int, dict]:
        contact = find_contact(session, contact_id=body.contact_id, external_id=body.contact_external_id)
        result = send_transactional(
            runtime, session, contact=contact, kind=body.kind, trigger=body.trigger, reference=body.reference,
            channels=body.channels, respect_sending_hours=body.respect_sending_hours, channel_choice=body.channel_choice,
        )
        return (202 if result.message_id else 200), result.as_json()

    status, response = idempotent(session, key=idempotency_key, body=body.model_dump(), now=runtime.clock.now(), run=run)
    if response.get("status") == "queued" and response.get("message_id"):
        # Committed: a broker that is down is not the client's error (a retry without
        # an Idempotency-Key would send a second survey). The tick sends it instead.
        runtime.submit_committed("send_messages", [response["message_id"]])
    return JSONResponse(response, status_code=status)
