"""/console/campaigns/{id}/results and /report, share links from the console, and the public /share/{token} report."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from api.console import charts
from api.console.render import page
from api.console.security import WRITE_ROLES, ConsoleUser, OperatorForm, Viewer
from api.deps import RuntimeDep, SessionDep
from api.params import ObjectId
from api.results_csv import csv_response
from campaigns.access.console import revoke_share_link, share_links
from campaigns.followups.service import CATEGORIES
from campaigns.people.service import NotFound
from campaigns.programs import service
from campaigns.programs.kinds import kind_named
from campaigns.programs.models import Campaign
from campaigns.results import campaign_results
from campaigns.results.breakdowns import DIMENSIONS
from campaigns.results.people import LIST_LABELS, LIST_NAMES, answer_rows, count_answers
from dispatcher.loop.sharing import new_share_link, open_share_link, share_url
from dispatcher.runtime.core import Runtime

router = APIRouter(include_in_schema=False)
DIMENSION_LABELS = {"segment": "By account segment", "tier": "By tier", "role": "By contact role", "renewal": "By renewal date"}
COMMENTS_PER_PAGE = 50


def results_context(runtime: Runtime, session: Session, campaign: Campaign, *, list_limit: int = 25) -> dict[str, Any]:
    """What both the results page and the report show."""
    results = campaign_results(session, campaign=campaign, today=runtime.clock.now().date(), list_limit=list_limit)
    segment_charts = {d: charts.segments_chart(results.segments[d], DIMENSION_LABELS[d]) for d in DIMENSIONS if results.segments[d]}
    return {
        "campaign": campaign, "results": results, "dimension_labels": DIMENSION_LABELS, "list_labels": LIST_LABELS,
        "distribution_svg": charts.distribution_chart(campaign.kind, results.distribution) if results.headline.answers else None,
        "trend_svg": charts.trend_chart(results.trend) if len(results.trend) > 1 else None,
        "segment_svgs": segment_charts,
        "funnel_svg": charts.funnel_chart(results.insights.channels) if results.insights.channels else None,
        "recent_comments": answer_rows(session, campaign_id=campaign.id, with_comment=True, limit=20),
    }


def _campaign_or_404(request: Request, session: Session, user: ConsoleUser | None, campaign_id: int) -> Campaign | Response:
    try:
        return service.get_campaign(session, campaign_id)
    except NotFound:
        return page(request, "message.html", user=user, title="No such campaign", status_code=404, tone="error",
                    message=f"There is no campaign {campaign_id}.", back="/console/campaigns", back_label="All campaigns")


@router.get("/console/campaigns/{campaign_id}/results", response_class=HTMLResponse)
def results_page(
    campaign_id: ObjectId, request: Request, user: Viewer, runtime: RuntimeDep, session: SessionDep,
    category: str = "", segment: str = "", offset: int = 0,
) -> Response:
    campaign = _campaign_or_404(request, session, user, campaign_id)
    if isinstance(campaign, Response):
        return campaign
    categories = [name for name, _, _ in kind_named(campaign.kind).categories]
    category = category if category in categories else ""
    offset = max(offset, 0)
    filters = {"campaign_id": campaign.id, "category": category or None, "segment": segment or None, "with_comment": True}
    comments = answer_rows(session, limit=COMMENTS_PER_PAGE, offset=offset, **filters)  # type: ignore[arg-type]
    total = count_answers(session, **filters)  # type: ignore[arg-type]
    links = [(link, share_url(runtime, link)) for link in share_links(session, campaign_id=campaign.id)]
    return page(
        request, "results.html", user=user, title=f"Results · {campaign.name}", active="campaigns",
        **results_context(runtime, session, campaign), comments=comments, comments_total=total, category=category, segment=segment,
        offset=offset, per_page=COMMENTS_PER_PAGE, categories=categories, share_links=links, now=runtime.clock.now(),
        may_share=user.may(*WRITE_ROLES), shared=False,
    )


@router.get("/console/campaigns/{campaign_id}/report", response_class=HTMLResponse)
def report_page(campaign_id: ObjectId, request: Request, user: Viewer, runtime: RuntimeDep, session: SessionDep) -> Response:
    campaign = _campaign_or_404(request, session, user, campaign_id)
    if isinstance(campaign, Response):
        return campaign
    return page(request, "report.html", user=user, title=f"Report · {campaign.name}", active="campaigns",
                **results_context(runtime, session, campaign, list_limit=50), shared=False)


@router.get("/console/campaigns/{campaign_id}/answers.csv")
def answers_csv(campaign_id: ObjectId, user: Viewer, runtime: RuntimeDep, session: SessionDep) -> Response:
    service.get_campaign(session, campaign_id)
    session.rollback()  # SQLite: release this request's lock before the stream reads
    return csv_response(runtime, campaign_id, None, f"campaign-{campaign_id}-answers.csv")


@router.get("/console/campaigns/{campaign_id}/lists/{name}.csv")
def list_csv(campaign_id: ObjectId, name: str, user: Viewer, runtime: RuntimeDep, session: SessionDep) -> Response:
    if name not in LIST_NAMES:
        return Response("no such list", status_code=404, media_type="text/plain")
    service.get_campaign(session, campaign_id)
    session.rollback()
    return csv_response(runtime, campaign_id, name, f"campaign-{campaign_id}-{name}.csv")


@router.get("/share/{token}", response_class=HTMLResponse)
def shared_report(token: str, request: Request, runtime: RuntimeDep, session: SessionDep) -> Response:
    """The read-only report for anyone with a live share link: no sign-in, no names of who answered."""
    link = open_share_link(runtime, session, token)
    if link is None:
        return page(request, "message.html", user=None, title="Link not available", status_code=404, tone="error",
                    message="This report link has expired or was revoked. Ask whoever sent it for a new one.")
    campaign = session.get(Campaign, link.campaign_id)
    assert campaign is not None
    response = page(request, "report.html", user=None, title=f"Report · {campaign.name}", **results_context(runtime, session, campaign, list_limit=0), shared=True)
    response.headers["X-Robots-Tag"] = "noindex"
    response.headers["Referrer-Policy"] = "no-referrer"  # the token must not leak to sites the report links to
    return response


@router.post("/console/campaigns/{campaign_id}/share")
def create_share(campaign_id: ObjectId, user: OperatorForm, runtime: RuntimeDep, session: SessionDep) -> Response:
    service.get_campaign(session, campaign_id)
    link = new_share_link(runtime, session, campaign_id=campaign_id, created_by=user.email)
    session.commit()
    return RedirectResponse(f"/console/campaigns/{campaign_id}/results?done={quote('Share link created: ' + share_url(runtime, link))}#sharing", status_code=303)


@router.post("/console/campaigns/{campaign_id}/share/{link_id}/revoke")
def revoke_share(campaign_id: ObjectId, link_id: ObjectId, user: OperatorForm, runtime: RuntimeDep, session: SessionDep) -> Response:
    if any(link.id == link_id for link in share_links(session, campaign_id=campaign_id)):
        revoke_share_link(session, link_id=link_id, now=runtime.clock.now())
        session.commit()
    return RedirectResponse(f"/console/campaigns/{campaign_id}/results?done=Share+link+revoked.#sharing", status_code=303)


__all__ = ["CATEGORIES", "router"]
