"""What a message says: template contexts, rendering once per group, per-recipient values.

A step renders its content once per (template, locale) with placeholders for
the recipient, stores it once (``message_contents``), and each message keeps
only its substitutions: the same bytes that were stored are the bytes sent.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from campaigns.db import dialect_insert
from campaigns.people.models import Contact
from campaigns.programs.models import Campaign, Episode, MessageContent
from campaigns.programs.plan import check_plan
from dispatcher.settings import Settings
from dispatcher.tokens import make_token
from templates import (
    RenderedMessage,
    SurveyContext,
    TemplateKey,
    TemplateRenderer,
    default_follow_up_question,
    default_question,
    default_scale,
    locale_chain,
    recipient_placeholders,
    recipient_substitutions,
    resolve_language,
)

TEMPLATE_MEDIUM = {"email": "email", "sms": "sms", "in_app": "in_app", "slack": "slack"}


def localized(texts: dict[str, str], locale: str) -> str | None:
    """The text for ``locale``, falling back as templates do (de-AT → de → en)."""
    return next((texts[candidate] for candidate in locale_chain(locale) if candidate in texts), None)


def close_date(campaign: Campaign) -> date:
    """The deadline customers are given: the survey's own, else the day before close."""
    if campaign.survey.get("deadline"):
        return date.fromisoformat(str(campaign.survey["deadline"])[:10])
    send_at = campaign.send_at or campaign.created_at
    close = next((s for s in check_plan(campaign.plan) if s.step == "close"), None)
    offset = close.offset if close else timedelta(days=14)
    zone = ZoneInfo(campaign.survey.get("timezone", "UTC"))
    return ((send_at + offset).astimezone(zone) - timedelta(days=1)).date()


def survey_context(
    campaign: Campaign, settings: Settings, *, template_step: str, locale: str, recipient: Any,
    number: int = 0, final: bool = False, owner_name: str | None = None, follow_up_promised: bool = True,
) -> SurveyContext:
    lang = resolve_language(locale)
    question = localized(campaign.survey.get("question") or {}, locale) or default_question(campaign.kind, lang, company_name=settings.company_name)
    follow_up = localized(campaign.survey.get("follow_up_question") or {}, locale) or default_follow_up_question(lang)
    send_at = campaign.send_at or campaign.created_at
    return SurveyContext(
        recipient=recipient, company_name=settings.company_name, campaign_name=campaign.name,
        kind=campaign.kind, question=question, follow_up_question=follow_up,
        scale=default_scale(campaign.kind, lang), deadline=close_date(campaign), sender_name=settings.sender_name,
        send_date=send_at.astimezone(ZoneInfo(campaign.survey.get("timezone", "UTC"))).date(),
        reminder_number=number, final_reminder=final, owner_name=owner_name, follow_up_promised=follow_up_promised,
        review_link=campaign.review_link, you_said_we_did_text=campaign.you_said_we_did or "",
    )


def content_digest(rendered: RenderedMessage) -> str:
    hasher = hashlib.sha256()
    for part in (rendered.subject, rendered.text, rendered.html):
        hasher.update(b"\x00" if part is None else part.encode() + b"\x01")
    return hasher.hexdigest()


def store_content(session: Session, rendered: RenderedMessage) -> int:
    """The id of this content, stored once however many messages share it."""
    digest = content_digest(rendered)
    existing = session.scalar(select(MessageContent.id).where(MessageContent.digest == digest))
    if existing is not None:
        return existing
    session.execute(
        dialect_insert(session, MessageContent).values(digest=digest, subject=rendered.subject, text=rendered.text, html=rendered.html)
        .on_conflict_do_nothing(index_elements=["digest"])
    )
    return session.scalar(select(MessageContent.id).where(MessageContent.digest == digest))  # type: ignore[return-value]


@dataclass
class ContentCache:
    """Rendered content ids for one batch, by (template key, extras)."""

    renderer: TemplateRenderer
    settings: Settings
    ids: dict[tuple[Any, ...], int] = field(default_factory=dict)

    def survey_content(
        self, session: Session, campaign: Campaign, *, medium: str, template_step: str, locale: str,
        number: int = 0, final: bool = False,
    ) -> int:
        key = (medium, template_step, locale, number, final)
        if key not in self.ids:
            context = survey_context(
                campaign, self.settings, template_step=template_step, locale=locale,
                recipient=recipient_placeholders(), number=number, final=final,
            )
            rendered = self.renderer.render(TemplateKey(TEMPLATE_MEDIUM[medium], campaign.kind, template_step, locale), context)
            self.ids[key] = store_content(session, rendered)
        return self.ids[key]


def answer_url(settings: Settings, episode: Episode, now: datetime) -> str:
    token = make_token(settings.secret_key.get_secret_value(), purpose="answer", subject=episode.public_id, expires_at=now + timedelta(days=settings.link_ttl_days))
    return f"{settings.public_url.rstrip('/')}/r/{token}"


def unsubscribe_url(settings: Settings, episode: Episode, now: datetime) -> str:
    token = make_token(settings.secret_key.get_secret_value(), purpose="unsubscribe", subject=episode.public_id, expires_at=now + timedelta(days=settings.unsubscribe_ttl_days))
    return f"{settings.public_url.rstrip('/')}/u/{token}"


def recipient_values(settings: Settings, episode: Episode, contact: Contact, now: datetime) -> dict[str, str]:
    """The per-recipient substitutions stored on a message (both text and HTML variants)."""
    name = contact.name or ""
    values = {
        "first_name": name.split()[0] if name.strip() else "",
        "name": name,
        "answer_url": answer_url(settings, episode, now),
        "unsubscribe_url": unsubscribe_url(settings, episode, now),
    }
    return recipient_substitutions(values, locale=contact.locale)
