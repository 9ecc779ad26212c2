"""/v1/contacts: bulk upsert (JSON and CSV), list, get, patch, erase."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response, UploadFile

from api.deps import Reader, RuntimeDep, SessionDep, Writer
from api.schemas.people import (
    ContactBulk,
    ContactChanges,
    ContactChannelsOut,
    ContactOut,
    ContactPage,
    UpsertOut,
)
from api.uploads import import_upload
from campaigns.people import service
from campaigns.people.upsert import upsert_contacts
from dispatcher.routing.explain import contact_channels

router = APIRouter(prefix="/v1/contacts", tags=["contacts"])


@router.post("/bulk", response_model=UpsertOut, summary="Insert or update up to 10,000 contacts by external id")
def bulk_upsert(body: ContactBulk, runtime: RuntimeDep, session: SessionDep, _: Writer) -> UpsertOut:
    rows = [(n, item.model_dump(exclude_unset=True)) for n, item in enumerate(body.items, start=1)]
    result = upsert_contacts(session, rows, now=runtime.clock.now())
    session.commit()
    return UpsertOut.of(result)


@router.post("/import", response_model=UpsertOut, summary="Insert or update contacts from a CSV file (up to 1,000,000 rows)")
def import_contacts(
    file: UploadFile, runtime: RuntimeDep, session: SessionDep, _: Writer,
) -> UpsertOut:
    return UpsertOut.of(import_upload(runtime, session, file, kind="contacts"))


@router.get("", response_model=ContactPage)
def list_contacts(
    session: SessionDep, _: Reader,
    account_external_id: str | None = None, segment: str | None = None, tier: str | None = None,
    plan: str | None = None, lifecycle_stage: str | None = None, role: str | None = None,
    locale: str | None = None, email: str | None = None,
    q: Annotated[str | None, Query(description="part of the name or email")] = None,
    renewal_before: date | None = None, updated_since: datetime | None = None,
    cursor: str | None = None, limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> ContactPage:
    filters = service.ContactFilter(
        account_external_id=account_external_id, segment=segment, tier=tier, plan=plan,
        lifecycle_stage=lifecycle_stage, role=role, locale=locale, email=email, search=q,
        renewal_before=renewal_before, updated_since=updated_since,
    )
    page = service.list_contacts(session, filters=filters, cursor=cursor, limit=limit)
    return ContactPage(items=[ContactOut.of(c) for c in page.items], next_cursor=page.next_cursor)


@router.get("/{contact_id}", response_model=ContactOut)
def get_contact(contact_id: int, session: SessionDep, _: Reader) -> ContactOut:
    return ContactOut.of(service.get_contact(session, contact_id))


@router.get("/{contact_id}/channels", response_model=ContactChannelsOut, summary="How channel choice sees this contact: each medium's reach, evidence and estimate")
def get_contact_channels(contact_id: int, runtime: RuntimeDep, session: SessionDep, _: Reader) -> ContactChannelsOut:
    return ContactChannelsOut(**contact_channels(runtime, session, service.get_contact(session, contact_id)))


@router.patch("/{contact_id}", response_model=ContactOut)
def patch_contact(contact_id: int, body: ContactChanges, runtime: RuntimeDep, session: SessionDep, _: Writer) -> ContactOut:
    contact = service.patch_contact(
        session, contact_id=contact_id, changes=body.model_dump(exclude_unset=True), now=runtime.clock.now()
    )
    session.commit()
    return ContactOut.of(contact)


@router.delete("/{contact_id}", status_code=204, summary="Erase the contact's personal data; anonymous aggregates stay")
def erase_contact(contact_id: int, runtime: RuntimeDep, session: SessionDep, _: Writer) -> Response:
    service.erase_contact(session, contact_id=contact_id, now=runtime.clock.now())
    session.commit()
    return Response(status_code=204)
