"""/v1/campaigns: create, read with progress, preview, and the lifecycle."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from sqlalchemy import select

from api.deps import Reader, RuntimeDep, SessionDep, Writer
from api.errors import error_responses
from api.params import IdFilter, ObjectId
from api.schemas.campaigns import (
    CampaignDetailOut,
    CampaignIn,
    CampaignOut,
    CampaignPage,
    CampaignPatch,
    EpisodeOut,
    EpisodePage,
    MessageOut,
    MessagePage,
    PauseIn,
    PreviewOut,
    StepProgressOut,
    WaitingOut,
    YouSaidWeDidIn,
)
from campaigns.paging import page_by_id
from campaigns.people.fields import FieldError
from campaigns.programs import report, service
from campaigns.programs.messages import list_messages
from campaigns.programs.models import Episode
from campaigns.programs.waiting import waiting_messages
from channels.outbound import named_internal
from dispatcher.loop.follow_ups import alert_warnings
from dispatcher.sending.lifecycle import cancel_campaign, launch_campaign
from dispatcher.sending.preview import preview_campaign

router = APIRouter(prefix="/v1/campaigns", tags=["campaigns"])


def _detail(session: SessionDep, campaign_id: int, runtime: RuntimeDep, warnings: list[str] | None = None) -> CampaignDetailOut:
    campaign = service.get_campaign(session, campaign_id)
    return CampaignDetailOut(
        **CampaignOut.of(campaign, warnings).model_dump(),
        steps=[StepProgressOut(**vars(p)) for p in report.step_progress(session, campaign.id)],
        episodes_by_state=report.episode_counts(session, campaign.id),
        excluded_by_rule=report.exclusion_counts(session, campaign.id),
        waiting=[WaitingOut(**w.as_dict()) for w in waiting_messages(session, campaign=campaign, now=runtime.clock.now())],
    )


@router.post("", response_model=CampaignOut, status_code=201, summary="Create a campaign (a draft until launched)")
def create(body: CampaignIn, runtime: RuntimeDep, session: SessionDep, _: Writer) -> CampaignOut:
    slack = body.internal_recipients.slack_webhook_url if body.internal_recipients else None
    if slack and (internal := named_internal(slack, runtime.settings.outbound_policy)) is not None:
        raise FieldError("internal_recipients.slack_webhook_url", internal)
    campaign = service.create_campaign(session, spec=body.spec(), now=runtime.clock.now())
    session.commit()
    return CampaignOut.of(campaign, alert_warnings(runtime, session, campaign))


@router.get("", response_model=CampaignPage)
def list_campaigns(
    session: SessionDep, _: Reader, status: str | None = None,
    cursor: str | None = None, limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> CampaignPage:
    page = service.list_campaigns(session, cursor=cursor, limit=limit, status=status)
    return CampaignPage(items=[CampaignOut.of(c) for c in page.items], next_cursor=page.next_cursor)


@router.get("/{campaign_id}", response_model=CampaignDetailOut, summary="A campaign with per-step progress and episode counts")
def get(campaign_id: ObjectId, runtime: RuntimeDep, session: SessionDep, _: Reader) -> CampaignDetailOut:
    return _detail(session, campaign_id, runtime)


@router.patch("/{campaign_id}", response_model=CampaignOut, responses=error_responses(409), summary="Edit a draft (409 once launched)")
def edit(campaign_id: ObjectId, body: CampaignPatch, session: SessionDep, _: Writer) -> CampaignOut:
    campaign = service.update_draft(session, campaign_id=campaign_id, changes=body.changes())
    session.commit()
    return CampaignOut.of(campaign)


@router.delete("/{campaign_id}", status_code=204, responses=error_responses(409), summary="Delete a draft (409 once launched: cancel it instead)")
def delete(campaign_id: ObjectId, session: SessionDep, _: Writer) -> Response:
    service.delete_draft(session, campaign_id=campaign_id)
    session.commit()
    return Response(status_code=204)


@router.get("/{campaign_id}/episodes", response_model=EpisodePage)
def episodes(
    campaign_id: ObjectId, session: SessionDep, _: Reader, state: str | None = None, channel: str | None = None,
    exclusion_rule: str | None = None, contact_id: IdFilter = None,
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
    campaign_id: ObjectId, session: SessionDep, _: Reader,
    step: Annotated[str | None, Query(description="a step key (reminder_1) or type (reminder)")] = None,
    medium: Annotated[str | None, Query(description="email, sms, in_app or slack")] = None,
    state: Annotated[str | None, Query(description="queued, sent, delivered, opened, clicked, answered, skipped, retrying, failed, unknown…")] = None,
    cursor: str | None = None, limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> MessagePage:
    service.get_campaign(session, campaign_id)
    page = list_messages(session, campaign_id=campaign_id, step=step, medium=medium, state=state, cursor=cursor, limit=limit)
    return MessagePage(items=[MessageOut.of(m) for m in page.items], next_cursor=page.next_cursor)


@router.post("/{campaign_id}/preview", response_model=PreviewOut, responses=error_responses(409), summary="Dry run: nothing is sent, no budget is reserved")
def preview(campaign_id: ObjectId, runtime: RuntimeDep, session: SessionDep, _: Writer) -> PreviewOut:
    campaign = service.get_campaign(session, campaign_id)
    result = preview_campaign(runtime, session, campaign)
    session.rollback()
    return PreviewOut(
        selected=result.selected, excluded_total=sum(result.excluded.values()), excluded_by_rule=dict(result.excluded),
        excluded_sample=result.excluded_sample, predicted_media=dict(result.media), sample=result.sample, schedule=result.schedule, channels=result.channels, unavailable_channels=result.unavailable,
        warnings=alert_warnings(runtime, session, campaign),
    )


@router.post("/{campaign_id}/launch", response_model=CampaignDetailOut, responses=error_responses(409))
def launch(campaign_id: ObjectId, runtime: RuntimeDep, session: SessionDep, _: Writer) -> CampaignDetailOut:
    launch_campaign(runtime, session, campaign_id)
    session.commit()
    return _detail(session, campaign_id, runtime, alert_warnings(runtime, session, service.get_campaign(session, campaign_id)))


@router.post("/{campaign_id}/pause", response_model=CampaignDetailOut, responses=error_responses(409))
def pause(campaign_id: ObjectId, runtime: RuntimeDep, session: SessionDep, key: Writer, body: PauseIn | None = None) -> CampaignDetailOut:
    reason = body.reason if body else None
    service.pause(session, campaign_id=campaign_id, reason=reason, by=f"API key {key.name}", now=runtime.clock.now())
    session.commit()
    return _detail(session, campaign_id, runtime)


@router.post("/{campaign_id}/resume", response_model=CampaignDetailOut, responses=error_responses(409))
def resume(campaign_id: ObjectId, runtime: RuntimeDep, session: SessionDep, _: Writer) -> CampaignDetailOut:
    service.resume(session, campaign_id=campaign_id)
    session.commit()
    return _detail(session, campaign_id, runtime)


@router.post("/{campaign_id}/cancel", response_model=CampaignDetailOut, responses=error_responses(409))
def cancel(campaign_id: ObjectId, runtime: RuntimeDep, session: SessionDep, _: Writer) -> CampaignDetailOut:
    cancel_campaign(runtime, session, campaign_id)
    session.commit()
    return _detail(session, campaign_id, runtime)


@router.post("/{campaign_id}/you-said-we-did", response_model=CampaignDetailOut, responses=error_responses(409), summary="After close: tell every recipient what changed")
def you_said_we_did(campaign_id: ObjectId, body: YouSaidWeDidIn, runtime: RuntimeDep, session: SessionDep, _: Writer) -> CampaignDetailOut:
    service.trigger_you_said_we_did(session, campaign_id=campaign_id, text=body.text, now=runtime.clock.now())
    session.commit()
    return _detail(session, campaign_id, runtime)
