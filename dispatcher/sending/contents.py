"""What a message says: template contexts, rendering once per group, per-recipient values.

A step renders its content once per (template, locale) with placeholders for
the recipient, stores it once (``message_contents``), and each message keeps
only its substitutions: the same bytes that were stored are the bytes sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from markupsafe import escape
from sqlalchemy.orm import Session

from campaigns.people.models import Contact
from campaigns.programs.models import Campaign, Episode
from campaigns.programs.plan import check_plan
from campaigns.studio import service
from dispatcher.answers.tokens import Signer, token_expiry
from dispatcher.runtime.core import Runtime
from dispatcher.runtime.settings import Settings
from dispatcher.studio.published import render_content
from dispatcher.studio.template_edits import EditSnapshot
from templates import (
    Placeholder,
    SurveyContext,
    TemplateKey,
    default_follow_up_question,
    default_question,
    default_scale,
    default_sender_name,
    greeting,
    locale_chain,
    recipient_placeholders,
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


@dataclass(frozen=True)
class LocaleNames:
    """What customers read in one locale: the company, who signs, where to get help."""

    company_name: str
    sender_name: str
    support_contact: str


def locale_names(session: Session | None, settings: Settings, locale: str) -> LocaleNames:
    """The studio's per-locale settings along the locale chain, then the defaults:
    the company and support from the settings, the signature in the locale's language."""
    profiles = service.locale_profiles(session) if session is not None else {}
    chain = [profiles[c] for c in locale_chain(locale) if c in profiles]
    company = next((p.company_name for p in chain if p.company_name), settings.company_name)
    english_default = resolve_language(locale) == "en" and not any(p.sender_name for p in chain)
    sender = next((p.sender_name for p in chain if p.sender_name), None) or (
        settings.sender_name if english_default else default_sender_name(locale, company_name=company)
    )
    support = next((p.support_contact for p in chain if p.support_contact), settings.support_contact)
    return LocaleNames(company, sender, support)


def follow_up_question(campaign: Campaign, locale: str) -> str:
    """The campaign's follow-up question in ``locale``, else the default in its language."""
    return localized(campaign.survey.get("follow_up_question") or {}, locale) or default_follow_up_question(resolve_language(locale))


def survey_context(
    campaign: Campaign, settings: Settings, *, template_step: str, locale: str, recipient: Any,
    number: int = 0, final: bool = False, owner_name: str | None = None, names: LocaleNames | None = None,
    follow_up_promised: bool = True,
) -> SurveyContext:
    lang = resolve_language(locale)
    names = names or locale_names(None, settings, locale)
    question = localized(campaign.survey.get("question") or {}, locale) or default_question(campaign.kind, lang, company_name=names.company_name)
    follow_up = follow_up_question(campaign, locale)
    send_at = campaign.send_at or campaign.created_at
    return SurveyContext(
        recipient=recipient, company_name=names.company_name, campaign_name=campaign.name,
        kind=campaign.kind, question=question, follow_up_question=follow_up,
        scale=default_scale(campaign.kind, lang), deadline=close_date(campaign), sender_name=names.sender_name,
        send_date=send_at.astimezone(ZoneInfo(campaign.survey.get("timezone", "UTC"))).date(),
        reminder_number=number, final_reminder=final, owner_name=owner_name, follow_up_promised=follow_up_promised,
        review_link=campaign.review_link, you_said_we_did_text=campaign.you_said_we_did or "",
    )


@dataclass
class ContentCache:
    """Rendered content ids for one batch, by (template key, extras).

    One snapshot of the published edits serves the whole batch, so every
    message of a batch says the same; the versions used are recorded.
    """

    runtime: Runtime
    ids: dict[tuple[Any, ...], int] = field(default_factory=dict)
    names: dict[str, LocaleNames] = field(default_factory=dict)
    snapshot: EditSnapshot | None = None

    def survey_content(
        self, session: Session, campaign: Campaign, *, medium: str, template_step: str, locale: str,
        number: int = 0, final: bool = False,
    ) -> int:
        key = (campaign.id, medium, template_step, locale, number, final)
        if key not in self.ids:
            if locale not in self.names:
                self.names[locale] = locale_names(session, self.runtime.settings, locale)
            if self.snapshot is None:
                self.snapshot = self.runtime.published_templates.snapshot(session)
            context = survey_context(
                campaign, self.runtime.settings, template_step=template_step, locale=locale,
                recipient=recipient_placeholders(), number=number, final=final, names=self.names[locale],
            )
            template = TemplateKey(TEMPLATE_MEDIUM[medium], campaign.kind, template_step, locale)
            self.ids[key] = render_content(self.runtime, session, campaign, template, context, now=self.runtime.clock.now(), snapshot=self.snapshot)
        return self.ids[key]


STEP_MARK = "~"  # in a link's subject: episode public id ~ plan step id (public ids are URL-safe base64)


def answer_url(settings: Settings, episode: Episode, now: datetime, *, step_id: int | None = None) -> str:
    """The survey link; with ``step_id`` it names the message it came in, so its answer is credited there."""
    return RecipientValues(settings).answer_url(episode.public_id, step_id, now)


def _answer_subject(public_id: str, step_id: int | None) -> str:
    return public_id if step_id is None else f"{public_id}{STEP_MARK}{step_id}"


def unsubscribe_url(settings: Settings, episode: Episode, now: datetime) -> str:
    return RecipientValues(settings).unsubscribe_url(episode.public_id, now)


def recipient_values(settings: Settings, episode: Episode, contact: Contact, now: datetime, *, step_id: int | None = None) -> dict[str, str]:
    """The per-recipient substitutions of a message planned at ``now`` (both text and HTML variants);
    ``step_id``: the plan step the message belongs to, carried by its answer link."""
    return values_for(settings, public_id=episode.public_id, name=contact.name, locale=contact.locale, planned_at=now, step_id=step_id)


def values_for(settings: Settings, *, public_id: str, name: str | None, locale: str | None, planned_at: datetime, step_id: int | None = None) -> dict[str, str]:
    """``recipient_values`` from the columns alone. Link tokens are HMACs of the episode's public
    id (and step) and an expiry counted from when the message was planned, so a contact step
    stores none of this and the hand-off derives the same values when it sends."""
    return RecipientValues(settings).values(public_id=public_id, name=name, locale=locale, planned_at=planned_at, step_id=step_id)


class RecipientValues:
    """The survey and unsubscribe links, and ``values_for`` for many messages: the HMAC keys, the
    link base and each expiry worked out once.

    Gives exactly what ``make_token`` and ``recipient_substitutions`` give (the same tokens, the
    same keys in the same order, HTML variants escaped by markupsafe when there is anything
    to escape); the hand-off makes one per chunk.
    """

    def __init__(self, settings: Settings) -> None:
        secret = settings.secret_key.get_secret_value()
        self._answer, self._unsubscribe = Signer(secret, "answer"), Signer(secret, "unsubscribe")
        base = settings.public_url.rstrip("/")
        self._answer_base, self._unsubscribe_base = f"{base}/r/", f"{base}/u/"
        self._answer_ttl = timedelta(days=settings.link_ttl_days)
        self._unsubscribe_ttl = timedelta(days=settings.unsubscribe_ttl_days)
        self._expiries: dict[datetime, tuple[str, str]] = {}

    def _expiry(self, planned_at: datetime) -> tuple[str, str]:
        found = self._expiries.get(planned_at)
        if found is None:
            found = self._expiries[planned_at] = (
                token_expiry(planned_at + self._answer_ttl), token_expiry(planned_at + self._unsubscribe_ttl))
        return found

    def answer_url(self, public_id: str, step_id: int | None, planned_at: datetime) -> str:
        """The survey link; with ``step_id`` it names the message it came in."""
        return self._answer_base + self._answer.token(_answer_subject(public_id, step_id), self._expiry(planned_at)[0])

    def unsubscribe_url(self, public_id: str, planned_at: datetime) -> str:
        return self._unsubscribe_base + self._unsubscribe.token(public_id, self._expiry(planned_at)[1])

    def values(self, *, public_id: str, name: str | None, locale: str | None, planned_at: datetime, step_id: int | None = None) -> dict[str, str]:
        name = name or ""
        first = name.split()[0] if name.strip() else ""
        answer, unsubscribe = self.answer_url(public_id, step_id, planned_at), self.unsubscribe_url(public_id, planned_at)
        greeting = _greeting(first, locale or "en")
        # Written out (the hand-off calls this per message): _TOKENS' order, each text token then its HTML one.
        (first_t, first_h), (name_t, name_h), (answer_t, answer_h), (unsubscribe_t, unsubscribe_h), (greeting_t, greeting_h) = _TOKENS
        return {first_t: first, first_h: _escaped(first), name_t: name, name_h: _escaped(name), answer_t: answer, answer_h: _escaped(answer),
                unsubscribe_t: unsubscribe, unsubscribe_h: _escaped(unsubscribe), greeting_t: greeting, greeting_h: _escaped(greeting)}


# The placeholders ``values`` fills, in ``recipient_substitutions``' order: (text token, HTML token).
_TOKENS = tuple((Placeholder(name).text_token, Placeholder(name).html_token) for name in ("first_name", "name", "answer_url", "unsubscribe_url", "greeting"))


_greeting = lru_cache(maxsize=4096)(greeting)  # first names and locales repeat across a step


def _escaped(value: str) -> str:
    """``str(markupsafe.escape(value))``, without the call when nothing needs escaping."""
    if "&" in value or "<" in value or ">" in value or '"' in value or "'" in value:
        return str(escape(value))
    return value


def message_values(settings: Settings, session: Session, message: Any) -> dict[str, str]:
    """A message's per-recipient values: stored ones, else derived as the hand-off derives them."""
    if message.substitutions or message.episode_id is None or message.contact_id is None:
        return dict(message.substitutions or {})
    episode, contact = session.get(Episode, message.episode_id), session.get(Contact, message.contact_id)
    assert episode is not None and contact is not None
    return values_for(settings, public_id=episode.public_id, name=contact.name, locale=message.locale or contact.locale,
                      planned_at=message.created_at, step_id=message.step_id)
