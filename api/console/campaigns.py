"""/console/campaigns: the list, a campaign's page (timeline, waiting messages, exclusions) and its buttons."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from api.console.render import page
from api.console.security import WRITE_ROLES, OperatorForm, Viewer
from api.deps import RuntimeDep, SessionDep
from api.params import ObjectId
from campaigns.people.fields import FieldError
from campaigns.people.service import NotFound
from campaigns.programs import report, service
from campaigns.programs.models import Campaign
from campaigns.programs.service import StateConflict
from campaigns.programs.waiting import waiting_messages
from campaigns.results.compute import audience_sizes, scores_by_campaign
from dispatcher.sending.lifecycle import cancel_campaign, launch_campaign

router = APIRouter(prefix="/console/campaigns", include_in_schema=False)
STATUSES = ("draft", "active", "paused", "closed", "cancelled")


def back(campaign_id: int, *, done: str | None = None, error: str | None = None) -> RedirectResponse:
    query = f"?done={quote(done)}" if done else (f"?error={quote(error)}" if error else "")
    return RedirectResponse(f"/console/campaigns/{campaign_id}{query}", status_code=303)


@router.get("", response_class=HTMLResponse)
def campaigns(request: Request, user: Viewer, session: SessionDep, status: str = "") -> Response:
    query = select(Campaign).where(Campaign.mode != "transactional").order_by(Campaign.id.desc()).limit(200)
    if status in STATUSES:
        query = query.where(Campaign.status == status)
    rows = list(session.scalars(query))
    return page(request, "campaigns.html", user=user, title="Campaigns", active="campaigns", campaigns=rows, status=status,
                statuses=STATUSES, scores=scores_by_campaign(session, campaigns=rows),
                audience=audience_sizes(session, campaign_ids=[c.id for c in rows]))


@router.get("/{campaign_id}", response_class=HTMLResponse)
def campaign_page(campaign_id: ObjectId, request: Request, user: Viewer, runtime: RuntimeDep, session: SessionDep) -> Response:
    try:
        campaign = service.get_campaign(session, campaign_id)
    except NotFound:
        return page(request, "message.html", user=user, title="No such campaign", status_code=404, tone="error",
                    message=f"There is no campaign {campaign_id}.", back="/console/campaigns", back_label="All campaigns")
    now = runtime.clock.now()
    return page(
        request, "campaign.html", user=user, title=campaign.name, active="campaigns", campaign=campaign, now=now,
        steps=report.step_progress(session, campaign.id), episodes=report.episode_counts(session, campaign.id),
        exclusions=report.exclusion_counts(session, campaign.id), waiting=waiting_messages(session, campaign=campaign, now=now),
        score=scores_by_campaign(session, campaigns=[campaign])[campaign.id], may_act=user.may(*WRITE_ROLES),
    )


def _act(campaign_id: int, action: str, run: Callable[[], None]) -> RedirectResponse:
    try:
        run()
    except (StateConflict, FieldError, NotFound) as exc:
        return back(campaign_id, error=str(exc))
    return back(campaign_id, done=action)


@router.post("/{campaign_id}/launch")
def launch(campaign_id: ObjectId, user: OperatorForm, runtime: RuntimeDep, session: SessionDep) -> Response:
    def run() -> None:
        launch_campaign(runtime, session, campaign_id)
        session.commit()
    return _act(campaign_id, "Launched.", run)


@router.post("/{campaign_id}/pause")
def pause(campaign_id: ObjectId, user: OperatorForm, runtime: RuntimeDep, session: SessionDep, reason: Annotated[str, Form(max_length=1000)] = "") -> Response:
    def run() -> None:
        service.pause(session, campaign_id=campaign_id, reason=reason, by=user.email, now=runtime.clock.now())
        session.commit()
    return _act(campaign_id, "Paused: nothing more goes out until you resume.", run)


@router.post("/{campaign_id}/resume")
def resume(campaign_id: ObjectId, user: OperatorForm, session: SessionDep) -> Response:
    def run() -> None:
        service.resume(session, campaign_id=campaign_id)
        session.commit()
    return _act(campaign_id, "Resumed.", run)


@router.post("/{campaign_id}/cancel")
def cancel(campaign_id: ObjectId, user: OperatorForm, runtime: RuntimeDep, session: SessionDep) -> Response:
    def run() -> None:
        cancel_campaign(runtime, session, campaign_id)
        session.commit()
    return _act(campaign_id, "Cancelled: nothing more will be sent.", run)


@router.post("/{campaign_id}/edit")
def edit(
    campaign_id: ObjectId, user: OperatorForm, session: SessionDep, name: Annotated[str, Form(max_length=200)],
    send_at: Annotated[str, Form()] = "", window_start: Annotated[str, Form()] = "09:00", window_end: Annotated[str, Form()] = "18:00",
) -> Response:
    def run() -> None:
        campaign = service.get_campaign(session, campaign_id)
        changes: dict[str, object] = {"name": name, "sending_window": {**(campaign.sending_window or {}), "start": window_start, "end": window_end}}
        if send_at:
            try:
                changes["send_at"] = datetime.fromisoformat(send_at).replace(tzinfo=UTC)
            except ValueError:
                raise FieldError("send_at", f"{send_at!r} is not a date and time") from None
        service.update_draft(session, campaign_id=campaign_id, changes=changes)
        session.commit()
    return _act(campaign_id, "Draft saved.", run)


@router.post("/{campaign_id}/delete")
def delete(campaign_id: ObjectId, user: OperatorForm, session: SessionDep) -> Response:
    try:
        service.delete_draft(session, campaign_id=campaign_id)
        session.commit()
    except (StateConflict, NotFound) as exc:
        return back(campaign_id, error=str(exc))
    return RedirectResponse("/console/campaigns?done=Draft+deleted.", status_code=303)
