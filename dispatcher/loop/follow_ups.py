"""The detractor alert: the answer, the contact and the account, to the task's owner and the campaign's Slack.

Queued as internal messages by the answer's follow-through (``dispatcher.answers.follow_through``,
seconds after the answer) with ``not_before`` the answer's time, outside any sending
window, and handed out at once (or by the next tick). They carry no campaign: an alert about
an answer already received goes out even while the campaign is paused or closed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaigns.followups.models import FollowUp
from campaigns.people.models import Account, Contact, TeamMember
from campaigns.programs.models import Campaign, Response
from dispatcher.loop.alerts import internal_row, queue_internal_messages
from dispatcher.runtime.core import Runtime
from dispatcher.sending.internal import INTERNAL_LOCALE
from dispatcher.sending.stored_contents import store_contents
from templates import DetractorAlertContext, RenderedMessage, TemplateKey, default_scale


def alert_key(episode_id: int, medium: str) -> str:
    """One alert per episode and medium, however often the answer changes."""
    return f"episode:{episode_id}:detractor_alert:{medium}"


def follow_up_url(runtime: Runtime, follow_up_id: int) -> str:
    """The task on the console's follow-ups page (team sign-in)."""
    return f"{runtime.settings.public_url.rstrip('/')}/console/follow-ups/{follow_up_id}"


def alert_context(runtime: Runtime, session: Session, *, response: Response, follow_up: FollowUp) -> DetractorAlertContext:
    campaign = session.get(Campaign, response.campaign_id)
    contact = session.get(Contact, response.contact_id)
    assert campaign is not None and contact is not None
    account = session.get(Account, response.account_id) if response.account_id else None
    owner = session.get(TeamMember, follow_up.owner_id) if follow_up.owner_id else None
    return DetractorAlertContext(
        company_name=runtime.settings.company_name, campaign_name=campaign.name, kind=response.kind,
        category=response.category, score=response.score, scale=default_scale(response.kind, INTERNAL_LOCALE),
        comment=response.comment or "", contact_name=contact.name or contact.email or contact.phone or contact.external_id,
        contact_email=contact.email or contact.phone or "", account_name=account.name if account else "no account",
        tier=account.tier if account else None, renewal_date=account.renewal_on if account else None,
        owner_name=owner.name if owner else None, link=follow_up_url(runtime, follow_up.id),
    )


def alert_emails(runtime: Runtime, campaign: Campaign, owner: TeamMember | None) -> list[str]:
    """Who gets the alert by email: the task's owner, else the campaign's internal recipients (none without email)."""
    if "email" not in runtime.available_media:
        return []
    if owner is not None:
        return [owner.email]
    return list((campaign.internal_recipients or {}).get("emails") or [])


def someone_is_told(runtime: Runtime, session: Session, *, campaign: Campaign, follow_up: FollowUp) -> bool:
    """Whether a bad answer's alert reaches anybody, so a thank-you may promise that someone will reach out."""
    owner = session.get(TeamMember, follow_up.owner_id) if follow_up.owner_id else None
    return bool(alert_emails(runtime, campaign, owner) or (campaign.internal_recipients or {}).get("slack_webhook_url"))


def queue_detractor_alerts(runtime: Runtime, session: Session, alerts: Sequence[tuple[Response, FollowUp]]) -> None:
    """For each (answer, task): email the task's owner (or, with no owner, the campaign's internal
    recipients) and post to the campaign's Slack webhook; each at most once per episode. The
    contents are stored and the messages queued by a few statements for the whole batch."""
    planned: list[tuple[dict[str, Any], RenderedMessage]] = []
    for response, follow_up in alerts:
        campaign = session.get(Campaign, response.campaign_id)
        assert campaign is not None
        now = response.created_at
        context = alert_context(runtime, session, response=response, follow_up=follow_up)
        owner = session.get(TeamMember, follow_up.owner_id) if follow_up.owner_id else None
        recipients = alert_emails(runtime, campaign, owner)
        if recipients:
            rendered = runtime.renderer.render(TemplateKey("email", response.kind, "detractor_alert", INTERNAL_LOCALE), context)
            for number, recipient in enumerate(recipients):
                # The owner's alert keeps the key it always had; fallback recipients get one each.
                key = alert_key(response.episode_id, "email") + (f":{number}" if number else "")
                planned.append((internal_row(runtime, key=key, campaign=None, step="detractor_alert", medium="email", recipient=recipient, content_id=0, now=now), rendered))
        webhook = (campaign.internal_recipients or {}).get("slack_webhook_url")
        if webhook:
            rendered = runtime.renderer.render(TemplateKey("slack", response.kind, "detractor_alert", INTERNAL_LOCALE), context)
            key = alert_key(response.episode_id, "slack")
            planned.append((internal_row(runtime, key=key, campaign=None, step="detractor_alert", medium="slack", recipient=webhook, content_id=0, now=now), rendered))
    if not planned:
        return
    for (row, _), content_id in zip(planned, store_contents(session, [rendered for _, rendered in planned])):
        row["content_id"] = content_id
    queue_internal_messages(session, [row for row, _ in planned])


def alert_warnings(runtime: Runtime, session: Session, campaign: Campaign) -> list[str]:
    """Why detractor alerts of this campaign might reach nobody (shown at create, preview and launch)."""
    internal = campaign.internal_recipients or {}
    if internal.get("slack_webhook_url"):
        return []
    email = "email" in runtime.available_media
    if email and internal.get("emails"):
        return []
    team = session.scalar(select(func.count()).select_from(TeamMember).where(TeamMember.active.is_(True))) or 0
    if email and team:
        return []
    why = "no email channel is configured" if not email else "there is no team member to own follow-ups (POST /v1/team) and no internal_recipients.emails"
    return [(f"detractor_alerts_unrouted: detractor alerts would reach nobody: {why}, and no internal_recipients.slack_webhook_url. "
            "Detractors' thank-you will not promise that someone reaches out.")]
