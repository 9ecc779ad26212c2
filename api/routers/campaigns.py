"""/v1/campaigns: create, read with progress, preview, and the lifecycle."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import select

from api.deps import Reader, RuntimeDep, SessionDep, Writer
from api.schemas.campaigns import (
    CampaignDetailOut,
    CampaignIn,
    CampaignOut,
    CampaignPage,
    EpisodeOut,
    EpisodePage,
    MessageOut,
    MessagePage,
    PreviewOut,
    StepProgressOut,
    YouSaidWeDidIn,
)
from campaigns.paging import page_by_id
from campaigns.programs import report, service
from campaigns.programs.messages import list_messages
from campaigns.programs.models import Episode
from dispatcher.lifecycle import cancel_campaign, launch_campaign
from dispatcher.preview import preview_campaign

router = APIRouter(prefix="/v1/campaigns", tags=["campaigns"])


def _detail(session: SessionDep, campaign_id: int) -> CampaignDetailOut:
    campaign = service.get_campaign(session, campaign_id)
    return CampaignDetailOut(
        **CampaignOut.of(campaign).model_dump(),
        steps=[StepProgressOut(**vars(p)) for p in report.step_progress(session, campaign.id)],
        episodes_by_state=report.episode_counts(session, campaign.id),
        excluded_by_rule=report.exclusion_counts(session, campaign.id),
    )


@router.post("", response_model=CampaignOut, status_code=201, summary="Create a campaign (a draft until launched)")
def create(body: CampaignIn, runtime: RuntimeDep, session: SessionDep, _: Writer) -> CampaignOut:
    campaign = service.create_campaign(session, spec=body.spec(), now=runtime.clock.now())
    session.commit()
    return CampaignOut.of(campaign)


@router.get("", response_model=CampaignPage)
def list_campaigns(
    session: SessionDep, _: Reader, status: str | None = None,
    cursor: str | None = None, limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> CampaignPage:
    page = service.list_campaigns(session, cursor=cursor, limit=limit, status=status)
    return CampaignPage(items=[CampaignOut.of(c) for c in page.items], next_cursor=page.next_cursor)


@router.get("/{campaign_id}", response_model=CampaignDetailOut, summary="A campaign with per-step progress and episode counts")
def get(campaign_id: int, session: SessionDep, _: Reader) -> CampaignDetailOut:
    return _detail(session, campaign_id)


@router.get("/{campaign_id}/episodes", response_model=EpisodePage)
def episodes(
    campaign_id: int, session: SessionDep, _: Reader, state: str | None = None, channel: str | None = None,
    exclusion_rule: str | None = None, contact_id: int | None = None,
    cursor: str | None = None, limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> EpisodePage:
    service.get_campaign(session, campaign_id)
    query = select(Episode).where(Episode.campaign_id == campaign_id)
    for column, value in (("state", state), ("channel", channel), ("exclusion_rule", exclusion_rule), ("contact_id", contact_id)):
        if value is not None:
            query = query.where(getattr(Episode, column) == value)
    page = page_by_id(session, query, Episode.id, cursor=cursor, limit=limit)
    return EpisodePage(items=[EpisodeOut.of(e) for e in page.items], next_cursor=page.next_cursor)


@router.get("/{campaign_id}/messages", response_model=MessagePage, summary="The campaign's messages: medium, state, times and why that medium")
def messages(
    campaign_id: int, session: SessionDep, _: Reader,
    step: Annotated[str | None, Query(description="a step key (reminder_1) or type (reminder)")] = None,
    medium: Annotated[str | None, Query(description="email, sms, in_app or slack")] = None,
    state: Annotated[str | None, Query(description="queued, sent, delivered, opened, clicked, answered, skipped, retrying, failed, unknown…")] = None,
    cursor: str | None = None, limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> MessagePage:
    service.get_campaign(session, campaign_id)
    page = list_messages(session, campaign_id=campaign_id, step=step, medium=medium, state=state, cursor=cursor, limit=limit)
    return MessagePage(items=[MessageOut.of(m) for m in page.items], next_cursor=page.next_cursor)


@router.post("/{campaign_id}/preview", response_model=PreviewOut, summary="Dry run: nothing is sent, no budget is reserved")
def preview(campaign_id: int, runtime: RuntimeDep, session: SessionDep, _: Writer) -> PreviewOut:
    campaign = service.get_campaign(session, campaign_id)
    result = preview_campaign(runtime, session, campaign)
    session.rollback()
    return PreviewOut(
        selected=result.selected, excluded_total=sum(result.excluded.values()), excluded_by_rule=dict(result.excluded),
        excluded_sample=result.excluded_sample, predicted_media=dict(result.media), sample=result.sample, schedule=result.schedule, channels=result.channels, unavailable_channels=result.unavailable,
    )


@router.post("/{campaign_id}/launch", response_model=CampaignDetailOut)
def launch(campaign_id: int, runtime: RuntimeDep, session: SessionDep, _: Writer) -> CampaignDetailOut:
    launch_campaign(runtime, session, campaign_id)
    session.commit()
    return _detail(session, campaign_id)


@router.post("/{campaign_id}/pause", response_model=CampaignDetailOut)
def pause(campaign_id: int, session: SessionDep, _: Writer) -> CampaignDetailOut:
    service.pause(session, campaign_id=campaign_id)
    session.commit()
    return _detail(session, campaign_id)


@router.post("/{campaign_id}/resume", response_model=CampaignDetailOut)
def resume(campaign_id: int, session: SessionDep, _: Writer) -> CampaignDetailOut:
    service.resume(session, campaign_id=campaign_id)
    session.commit()
    return _detail(session, campaign_id)


@router.post("/{campaign_id}/cancel", response_model=CampaignDetailOut)
def cancel(campaign_id: int, runtime: RuntimeDep, session: SessionDep, _: Writer) -> CampaignDetailOut:
    cancel_campaign(runtime, session, campaign_id)
    session.commit()
    return _detail(session, campaign_id)


@router.post("/{campaign_id}/you-said-we-did", response_model=CampaignDetailOut, summary="After close: tell every recipient what changed")
def you_said_we_did(campaign_id: int, body: YouSaidWeDidIn, runtime: RuntimeDep, session: SessionDep, _: Writer) -> CampaignDetailOut:
    service.trigger_you_said_we_did(session, campaign_id=campaign_id, text=body.text, now=runtime.clock.now())
    session.commit()
    return _detail(session, campaign_id)
