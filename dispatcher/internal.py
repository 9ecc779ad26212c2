"""Internal steps: the kickoff and the closing summary, to the CS team (email and Slack)."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from campaigns.people.models import Account, Contact, TeamMember
from campaigns.programs.models import Campaign, Episode, Message, PlanStep
from campaigns.programs import report
from dispatcher.alerts import internal_message
from dispatcher.contents import close_date, localized, store_content
from dispatcher.handoff import send_messages
from dispatcher.runtime import Runtime
from dispatcher.step_batch import step_is_live
from templates import (
    CategoryCount,
    ChannelCount,
    KickoffContext,
    SummaryContext,
    TemplateKey,
    default_question,
)

INTERNAL_LOCALE = "en"


def _owner_emails(session: Session, campaign: Campaign) -> list[str]:
    return list(session.scalars(
        select(TeamMember.email).distinct().join(Account, Account.owner_id == TeamMember.id)
        .join(Contact, Contact.account_id == Account.id).join(Episode, Episode.contact_id == Contact.id)
        .where(Episode.campaign_id == campaign.id, Episode.state != "excluded").order_by(TeamMember.email)
    ))


def _context(runtime: Runtime, session: Session, campaign: Campaign, step: PlanStep) -> KickoffContext | SummaryContext:
    settings = runtime.settings
    url = f"{settings.public_url.rstrip('/')}/v1/campaigns/{campaign.id}"
    if step.step == "kickoff":
        counts = report.episode_counts(session, campaign.id)
        excluded = counts.pop("excluded", 0)
        assert campaign.send_at is not None
        question = localized(campaign.survey.get("question") or {}, INTERNAL_LOCALE) or default_question(campaign.kind, INTERNAL_LOCALE, company_name=settings.company_name)
        return KickoffContext(
            company_name=settings.company_name, campaign_name=campaign.name, kind=campaign.kind, question=question,
            send_date=campaign.send_at.date(), deadline=close_date(campaign),
            audience_size=sum(counts.values()), excluded_count=excluded, campaign_url=url,
        )
    figures = report.summary(session, campaign)
    head = figures.headline
    score = head.score if head.score is not None else 0.0
    if campaign.kind == "csat":
        score = score / 100
    return SummaryContext(
        company_name=settings.company_name, campaign_name=campaign.name, kind=campaign.kind, score=score,
        share_easy=(head.share_positive or 0) / 100 if campaign.kind == "ces" else None,
        recipients=figures.recipients, responses=figures.responses, response_rate=figures.response_rate,
        comments=figures.comments,
        channels=tuple(ChannelCount(m, c["sent"], c["answered"]) for m, c in sorted(figures.by_channel.items())),
        categories=tuple(CategoryCount(name, count) for name, count in head.by_category.items()),
        report_url=f"{url}/report",
    )


def run_internal_step(runtime: Runtime, step_id: int) -> None:
    """Task: queue the step's messages to the team (once per recipient), then send them."""
    with runtime.sessions() as session:
        step = session.get(PlanStep, step_id)
        if step is None or not step_is_live(step.campaign, step):
            return
        campaign = step.campaign
        now = runtime.clock.now()
        context = _context(runtime, session, campaign, step)
        recipients = campaign.internal_recipients or {}
        emails = list(dict.fromkeys([*(recipients.get("emails") or []), *(_owner_emails(session, campaign) if step.step == "kickoff" else [])]))
        if emails and "email" in runtime.available_media:
            rendered = runtime.renderer.render(TemplateKey("email", campaign.kind, step.step, INTERNAL_LOCALE), context)
            content = store_content(session, rendered)
            for address in emails:
                internal_message(runtime, session, key=f"step:{step.id}:to:{address}", campaign=campaign, step=step.step, medium="email", recipient=address, content_id=content, now=now, step_id=step.id)
        if recipients.get("slack_webhook_url"):
            rendered = runtime.renderer.render(TemplateKey("slack", campaign.kind, step.step, INTERNAL_LOCALE), context)
            content = store_content(session, rendered)
            internal_message(runtime, session, key=f"step:{step.id}:to:slack", campaign=campaign, step=step.step, medium="slack", recipient=recipients["slack_webhook_url"], content_id=content, now=now, step_id=step.id)
        session.commit()
        ids = list(session.scalars(select(Message.id).where(Message.step_id == step.id, Message.state == "queued")))
    if ids:
        send_messages(runtime, ids)
    # Every message is written (and sent, or queued for the tick): the step is done. A task
    # lost before this point leaves the step dispatched, and the scheduler hands it out again.
    with runtime.sessions() as session:
        session.execute(update(PlanStep).where(PlanStep.id == step_id, PlanStep.status.in_(("running", "dispatched"))).values(status="done"))
        session.commit()
