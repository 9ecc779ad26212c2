"""/v1/campaigns/{id}/results: the results as JSON and CSV, and read-only share links."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from api.deps import Reader, RuntimeDep, SessionDep, Writer
from api.errors import ApiError
from api.params import ObjectId
from api.results_csv import csv_response
from api.schemas.results import ResultsOut
from campaigns.access.console import revoke_share_link, share_links
from campaigns.access.models import ShareLink
from campaigns.programs import service
from campaigns.results import campaign_results
from campaigns.results.people import LIST_NAMES
from dispatcher.loop.sharing import new_share_link, share_url
from dispatcher.runtime.core import Runtime

router = APIRouter(prefix="/v1/campaigns", tags=["results"])


@router.get("/{campaign_id}/results", response_model=ResultsOut,
            summary="The campaign's results: headline with margin, insights, segments, change, lists, themes")
def results(
    campaign_id: ObjectId, runtime: RuntimeDep, session: SessionDep, _: Reader,
    list_limit: Annotated[int, Query(ge=0, le=1000, description="rows per list (the CSV exports have them all)")] = 25,
) -> ResultsOut:
    campaign = service.get_campaign(session, campaign_id)
    return ResultsOut.model_validate(campaign_results(session, campaign=campaign, today=runtime.clock.now().date(), list_limit=list_limit).as_dict())


@router.get("/{campaign_id}/results.csv", summary="One row per answer with contact, account and campaign fields")
def results_csv(campaign_id: ObjectId, runtime: RuntimeDep, session: SessionDep, _: Reader) -> StreamingResponse:
    service.get_campaign(session, campaign_id)
    session.rollback()  # SQLite: release this request's lock before the stream reads
    return csv_response(runtime, campaign_id, None, f"campaign-{campaign_id}-answers.csv")


@router.get("/{campaign_id}/results/{name}.csv", summary="A list to act on: advocates, at_risk or upsell")
def list_csv(campaign_id: ObjectId, name: str, runtime: RuntimeDep, session: SessionDep, _: Reader) -> StreamingResponse:
    if name not in LIST_NAMES:
        raise ApiError(404, "not_found", f"no list {name!r}; use one of {', '.join(LIST_NAMES)}")
    service.get_campaign(session, campaign_id)
    session.rollback()
    return csv_response(runtime, campaign_id, name, f"campaign-{campaign_id}-{name}.csv")


class ShareLinkIn(BaseModel):
    days: int | None = Field(default=None, ge=1, le=365, description="how long the link works; default PULSE_SHARE_LINK_DAYS")


class ShareLinkOut(BaseModel):
    id: int
    url: str
    created_by: str | None
    created_at: datetime
    expires_at: datetime
    status: Literal["live", "expired", "revoked"]


def share_out(runtime: Runtime, link: ShareLink) -> ShareLinkOut:
    status = "revoked" if link.revoked_at else ("expired" if link.expires_at <= runtime.clock.now() else "live")
    return ShareLinkOut(id=link.id, url=share_url(runtime, link), created_by=link.created_by, created_at=link.created_at,
                        expires_at=link.expires_at, status=status)  # type: ignore[arg-type]


@router.post("/{campaign_id}/share-links", response_model=ShareLinkOut, status_code=201, summary="A read-only results link anyone can open (no sign-in)")
def create_share(campaign_id: ObjectId, runtime: RuntimeDep, session: SessionDep, key: Writer, body: ShareLinkIn | None = None) -> ShareLinkOut:
    service.get_campaign(session, campaign_id)
    link = new_share_link(runtime, session, campaign_id=campaign_id, created_by=f"API key {key.name}", days=body.days if body else None)
    session.commit()
    return share_out(runtime, link)


@router.get("/{campaign_id}/share-links", response_model=list[ShareLinkOut])
def list_shares(campaign_id: ObjectId, runtime: RuntimeDep, session: SessionDep, _: Reader) -> list[ShareLinkOut]:
    service.get_campaign(session, campaign_id)
    return [share_out(runtime, link) for link in share_links(session, campaign_id=campaign_id)]


@router.delete("/{campaign_id}/share-links/{link_id}", status_code=204, summary="Revoke a share link: it stops working at once")
def revoke_share(campaign_id: ObjectId, link_id: ObjectId, runtime: RuntimeDep, session: SessionDep, _: Writer) -> None:
    service.get_campaign(session, campaign_id)
    if not any(link.id == link_id for link in share_links(session, campaign_id=campaign_id)):
        raise ApiError(404, "not_found", f"campaign {campaign_id} has no share link {link_id}")
    revoke_share_link(session, link_id=link_id, now=runtime.clock.now())
    session.commit()
