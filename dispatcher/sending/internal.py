"""Internal steps: the kickoff and the closing summary, to the CS team (email and Slack)."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from campaigns.access.console import share_links
from campaigns.people.models import Account, Contact, TeamMember
from campaigns.programs import report
from campaigns.programs.models import Campaign, Episode, Message, PlanStep
from campaigns.results import campaign_results
from dispatcher.loop.alerts import internal_message
from dispatcher.loop.sharing import new_share_link, share_url
from dispatcher.runtime.core import Runtime
from dispatcher.sending.contents import close_date, localized
from dispatcher.sending.handoff import send_messages
from dispatcher.sending.step_batch import step_is_live
from dispatcher.sending.stored_contents import store_content
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


SUMMARY_SHARER = "Pulse (closing summary)"


def team_locale(campaign: Campaign) -> str:
    """The language the team reads the kickoff and summary in (``internal_recipients.locale``)."""
    return str((campaign.internal_recipients or {}).get("locale") or INTERNAL_LOCALE)


def console_url(runtime: Runtime, path: str) -> str:
    return f"{runtime.settings.public_url.rstrip('/')}/console/{path.lstrip('/')}"


def _summary_share_url(runtime: Runtime, session: Session, campaign: Campaign) -> str:
    """The read-only report link the summary carries: one per campaign, reused if the step runs again."""
    now = runtime.clock.now()
    link = next((lk for lk in share_links(session, campaign_id=campaign.id)
                 if lk.created_by == SUMMARY_SHARER and lk.revoked_at is None and lk.expires_at > now), None)
    return share_url(runtime, link or new_share_link(runtime, session, campaign_id=campaign.id, created_by=SUMMARY_SHARER))


def _context(runtime: Runtime, session: Session, campaign: Campaign, step: PlanStep) -> KickoffContext | SummaryContext:
    settings = runtime.settings
    locale = team_locale(campaign)
    if step.step == "kickoff":
        counts = report.episode_counts(session, campaign.id)
        excluded = counts.pop("excluded", 0)
        assert campaign.send_at is not None
        question = localized(campaign.survey.get("question") or {}, locale) or default_question(campaign.kind, locale, company_name=settings.company_name)
        return KickoffContext(
            company_name=settings.company_name, campaign_name=campaign.name, kind=campaign.kind, question=question,
            send_date=campaign.send_at.date(), deadline=close_date(campaign),
            audience_size=sum(counts.values()), excluded_count=excluded, campaign_url=console_url(runtime, f"campaigns/{campaign.id}"),
        )
    figures = report.summary(session, campaign)
    results = campaign_results(session, campaign=campaign, today=runtime.clock.now().date(), list_limit=0)
    head, insights = results.headline, results.insights
    unit = 100 if campaign.kind == "csat" else 1  # the template takes CSAT as a share, 0..1
    themes = [t.phrase for t in (results.themes.get(locale.split("-")[0]) or next(iter(results.themes.values()), []))][:5]
    return SummaryContext(
        company_name=settings.company_name, campaign_name=campaign.name, kind=campaign.kind,
        score=(head.score or 0.0) / unit, margin=head.margin / unit if head.margin is not None else None, no_answers=head.answers == 0,
        share_easy=(head.share_positive or 0) / 100 if campaign.kind == "ces" else None,
        recipients=figures.recipients, responses=figures.responses, response_rate=figures.response_rate,
        comments=figures.comments,
        channels=tuple(ChannelCount(m, c["sent"], c["answered"]) for m, c in sorted(figures.by_channel.items())),
        categories=tuple(CategoryCount(name, count) for name, count in head.by_category.items()),
        report_url=_summary_share_url(runtime, session, campaign),
        account_coverage=insights.account_coverage / 100 if insights.account_coverage is not None else None,
        comment_rate=insights.comment_rate / 100 if insights.comment_rate is not None else None,
        improved=results.score_change["improved"], worse=results.score_change["worse"],
        at_risk=results.list_totals["at_risk"], advocates=results.list_totals["advocates"], upsell=results.list_totals["upsell"],
        themes=tuple(themes), results_url=console_url(runtime, f"campaigns/{campaign.id}/results"),
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
            rendered = runtime.renderer.render(TemplateKey("email", campaign.kind, step.step, team_locale(campaign)), context)
            content = store_content(session, rendered)
            for address in emails:
                internal_message(runtime, session, key=f"step:{step.id}:to:{address}", campaign=campaign, step=step.step, medium="email", recipient=address, content_id=content, now=now, step_id=step.id)
        if recipients.get("slack_webhook_url"):
            rendered = runtime.renderer.render(TemplateKey("slack", campaign.kind, step.step, team_locale(campaign)), context)
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
