"""/v1/accounts: bulk upsert (JSON and CSV), list, get."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, UploadFile

from api.deps import Reader, RuntimeDep, SessionDep, Writer
from api.errors import error_responses
from api.params import ObjectId
from api.schemas.people import AccountBulk, AccountOut, AccountPage, UpsertOut
from api.uploads import import_upload
from campaigns.people import service
from campaigns.people.upsert import upsert_accounts

router = APIRouter(prefix="/v1/accounts", tags=["accounts"])


@router.post("/bulk", response_model=UpsertOut, summary="Insert or update up to 10,000 accounts by external id")
def bulk_upsert(body: AccountBulk, runtime: RuntimeDep, session: SessionDep, _: Writer) -> UpsertOut:
    rows = [(n, item.model_dump(exclude_unset=True)) for n, item in enumerate(body.items, start=1)]
    result = upsert_accounts(session, rows, now=runtime.clock.now())
    session.commit()
    return UpsertOut.of(result)


@router.post("/import", response_model=UpsertOut, responses=error_responses(415), summary="Insert or update accounts from a CSV file")
def import_accounts(
    file: UploadFile, runtime: RuntimeDep, session: SessionDep, _: Writer,
) -> UpsertOut:
    return UpsertOut.of(import_upload(runtime, session, file, kind="accounts"))


@router.get("", response_model=AccountPage)
def list_accounts(
    session: SessionDep, _: Reader, segment: str | None = None, tier: str | None = None,
    cursor: str | None = None, limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> AccountPage:
    page = service.list_accounts(session, cursor=cursor, limit=limit, segment=segment, tier=tier)
    return AccountPage(items=[AccountOut.of(a) for a in page.items], next_cursor=page.next_cursor)


@router.get("/{account_id}", response_model=AccountOut)
def get_account(account_id: ObjectId, session: SessionDep, _: Reader) -> AccountOut:
    return AccountOut.of(service.get_account(session, account_id))
