"""The template studio's operations: what the API and the console page call.

Drafts and versions are stored by ``campaigns.studio.service``; this module
adds what needs the templates and the channels: the effective sources, the
checks, previews with sample data or a real contact (never sent to them),
publishing (refused while a check fails), diffs and test-sends to oneself.
Functions never commit; the route does, once.
"""

from __future__ import annotations

import difflib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from campaigns.db import id_in
from campaigns.people.fields import FieldError
from campaigns.people.models import Contact
from campaigns.people.service import NotFound
from campaigns.programs.models import Campaign, Message, MessageContent, PlanStep
from campaigns.studio import service
from campaigns.studio.models import TemplateVersion
from campaigns.studio.service import KeyRef
from channels.base import OutgoingMessage
from channels.sms_encoding import count_segments, is_gsm7, normalize_for_gsm
from dispatcher.runtime.core import Runtime
from dispatcher.sending.contents import locale_names, survey_context
from dispatcher.studio.published import snapshot_of_use, versions_used
from dispatcher.studio.template_edits import EditSnapshot, scope_of
from templates import (
    CHANNEL_PARTS,
    CHANNELS,
    KINDS,
    LANGUAGES,
    RenderedMessage,
    SurveyContext,
    TemplateKey,
    TemplateRenderer,
    default_question,
    locale_chain,
    recipient_placeholders,
    recipient_values,
    resolve_language,
    sample_context,
    steps_for,
)
from templates.checks import Finding, check_edit
from templates.context import as_mapping, context_type
from templates.keys import normalize_locale
from templates.variables import step_variables

TEST_SENDABLE = ("email", "sms")


class ChannelSmsCounter:
    """``templates.checks.SmsCounter`` from the channel layer's carrier rules."""

    def segments(self, text: str) -> tuple[str, int, int]:
        counted = count_segments(text)
        return counted.encoding, counted.segments, counted.units

    def normalize(self, text: str) -> str:
        return normalize_for_gsm(text)

    def is_gsm(self, character: str) -> bool:
        return is_gsm7(character)


SMS = ChannelSmsCounter()


class ChecksFailed(Exception):
    """Publishing was refused: the findings say why."""

    def __init__(self, findings: list[Finding]) -> None:
        super().__init__("; ".join(f"{f.part} line {f.line}: {f.message}" if f.line else f"{f.part}: {f.message}" for f in findings))
        self.findings = findings


def key_ref(session: Session, channel: str, kind: str, step: str, locale: str, campaign_id: int | None = None) -> tuple[TemplateKey, KeyRef]:
    """The key named by a request, checked; raises ``FieldError`` or ``NotFound``."""
    if channel not in CHANNELS:
        raise FieldError("channel", f"unknown channel {channel!r}; use one of {', '.join(CHANNELS)}")
    if kind not in KINDS:
        raise FieldError("kind", f"unknown survey kind {kind!r}; use one of {', '.join(KINDS)}")
    if step not in steps_for(channel, kind):
        raise FieldError("step", f"{channel} has no {step!r} step for {kind}; it has {', '.join(steps_for(channel, kind))}")
    normal = normalize_locale(locale)
    if normal != locale and normal.lower() != locale.lower().replace("_", "-"):
        raise FieldError("locale", f"{locale!r} is not a locale like en, de, de-AT or pt-BR")
    if campaign_id is not None and session.get(Campaign, campaign_id) is None:
        raise NotFound(f"no campaign {campaign_id}")
    return TemplateKey(channel, kind, step, normal), KeyRef(channel, kind, step, normal, campaign_id)


def _snapshot(runtime: Runtime, session: Session) -> EditSnapshot:
    """The edits in force, read in this request's session (so it sees its own writes)."""
    return EditSnapshot.of(service.heads(session))


def effective_sources(runtime: Runtime, session: Session, key: TemplateKey, ref: KeyRef, draft_parts: Mapping[str, str] | None = None) -> dict[str, str]:
    """Every part as a render would read it: draft parts over the published edit over the files."""
    snapshot = _snapshot(runtime, session)
    sources = TemplateRenderer(overrides=snapshot.overrides(ref.campaign_id)).source(key)
    return {**sources, **(draft_parts or {})}


def check(runtime: Runtime, session: Session, key: TemplateKey, ref: KeyRef, parts: Mapping[str, str]) -> list[Finding]:
    """Every finding for ``parts`` laid over what ``key`` renders from today."""
    unknown = [Finding(p, None, "unknown_part", f"{key.channel} templates have no {p} part (they have {', '.join(CHANNEL_PARTS[key.channel])})") for p in parts if p not in CHANNEL_PARTS[key.channel]]
    if unknown:
        return unknown
    return _check(runtime, session, key, effective_sources(runtime, session, key, ref, parts))


def _check(runtime: Runtime, session: Session, key: TemplateKey, sources: Mapping[str, str]) -> list[Finding]:
    """The checks, with the sample data the preview shows (the configured company name, not the samples'):
    an SMS counted here has the length the preview's counter gives."""
    return check_edit(sources, key=key, sms=SMS, values=preview_context(runtime, session, key, None))


def status_of(head: TemplateVersion | None, draft: TemplateVersion | None) -> dict[str, Any]:
    return {
        "status": "edited" if head is not None and head.parts else "default",
        "draft_pending": draft is not None,
        "version": head.number if head is not None else None,
        "published_at": head.published_at.isoformat() if head is not None and head.published_at else None,
        "published_by": head.author if head is not None else None,
    }


def list_keys(session: Session, *, channel: str | None = None, kind: str | None = None, locale: str | None = None, campaign_id: int | None = None) -> list[dict[str, Any]]:
    """Every key (shipped languages, and any locale that has an edit), with its status."""
    heads = {(v.channel, v.kind, v.step, v.locale): v for v in service.heads(session) if v.campaign_id == campaign_id}
    drafts = {(v.channel, v.kind, v.step, v.locale): v for v in service.drafts(session) if v.campaign_id == campaign_id}
    locales = sorted(set(LANGUAGES) | {k[3] for k in heads} | {k[3] for k in drafts})
    rows = []
    for c in CHANNELS:
        for k in KINDS:
            for s in steps_for(c, k):
                for loc in locales:
                    if (channel and c != channel) or (kind and k != kind) or (locale and loc != locale):
                        continue
                    key = (c, k, s, loc)
                    if loc not in LANGUAGES and key not in heads and key not in drafts:
                        continue
                    rows.append({"channel": c, "kind": k, "step": s, "locale": loc, **status_of(heads.get(key), drafts.get(key))})
    return rows


def detail(runtime: Runtime, session: Session, key: TemplateKey, ref: KeyRef) -> dict[str, Any]:
    """Everything the editor shows for one key."""
    history = service.published(session, ref)
    draft = service.draft(session, ref)
    current = effective_sources(runtime, session, key, ref)
    chain = locale_chain(key.locale)
    return {
        "key": {"channel": key.channel, "kind": key.kind, "step": key.step, "locale": key.locale, "campaign_id": ref.campaign_id},
        **status_of(history[0] if history else None, draft),
        "parts": list(CHANNEL_PARTS[key.channel]),
        "sources": current,
        "defaults": TemplateRenderer().source(key),
        "draft": dict(draft.parts) if draft else None,
        "draft_saved_by": draft.author if draft else None,
        "locale_chain": list(chain),
        "language_used": resolve_language(key.locale),
        "fallback": _fallback_note(session, key, ref),
        "variables": step_variables(key),
        "findings": [f.as_json() for f in _check(runtime, session, key, current)],
    }


def _fallback_note(session: Session, key: TemplateKey, ref: KeyRef) -> str:
    """Where each locale of the chain gets its text: "de-AT → de → en"."""
    snapshot = EditSnapshot.of(service.heads(session))
    steps = []
    for locale in locale_chain(key.locale):
        has_edit = scope_of(key.with_locale(locale)) in snapshot.edits or (ref.campaign_id is not None and scope_of(key.with_locale(locale), ref.campaign_id) in snapshot.edits)
        where = "edited" if has_edit else ("files" if locale in LANGUAGES else "nothing yet")
        steps.append(f"{locale} ({where})")
    return " → ".join(steps)


def save_draft(runtime: Runtime, session: Session, key: TemplateKey, ref: KeyRef, parts: Mapping[str, str], *, author: str) -> dict[str, Any]:
    for part in parts:
        if part not in CHANNEL_PARTS[key.channel]:
            raise FieldError(f"parts.{part}", f"{key.channel} templates have no {part} part (they have {', '.join(CHANNEL_PARTS[key.channel])})")
    service.save_draft(session, ref, parts=dict(parts), author=author, now=runtime.clock.now())
    return {"draft": dict(parts), "findings": [f.as_json() for f in check(runtime, session, key, ref, parts)]}


def publish(runtime: Runtime, session: Session, key: TemplateKey, ref: KeyRef, *, author: str, note: str | None) -> TemplateVersion:
    """The draft becomes the next version; raises ``ChecksFailed`` while an error stands.

    Messages already planned keep the content rendered for them: publishing
    changes what is rendered from now on, never what is queued.
    """
    draft = service.draft(session, ref)
    if draft is None:
        raise NotFound(f"{key.channel}/{key.kind}/{key.step}/{key.locale} has no draft to publish")
    errors = [f for f in check(runtime, session, key, ref, draft.parts) if f.severity == "error"]
    if errors:
        raise ChecksFailed(errors)
    return service.publish_draft(session, ref, author=author, note=note, now=runtime.clock.now())


def revert(runtime: Runtime, session: Session, ref: KeyRef, *, author: str, note: str | None) -> TemplateVersion:
    """A new version that says "the defaults" (history keeps every earlier one)."""
    return service.publish_parts(session, ref, parts={}, action="revert", author=author, note=note or "reverted to the default", now=runtime.clock.now())


def rollback(runtime: Runtime, session: Session, key: TemplateKey, ref: KeyRef, number: int, *, author: str, note: str | None) -> TemplateVersion:
    """A new version with version ``number``'s text, checked like any publish."""
    earlier = service.version(session, ref, number)
    errors = [f for f in check(runtime, session, key, ref, earlier.parts) if f.severity == "error"] if earlier.parts else []
    if errors:
        raise ChecksFailed(errors)
    return service.publish_parts(
        session, ref, parts=dict(earlier.parts), action="rollback", based_on_id=earlier.id, author=author,
        note=note or f"rolled back to version {number}", now=runtime.clock.now(),
    )


def version_json(v: TemplateVersion) -> dict[str, Any]:
    return {
        "version": v.number, "id": v.id, "action": v.action, "note": v.note, "author": v.author,
        "published_at": v.published_at.isoformat() if v.published_at else None, "parts": dict(v.parts),
    }


def diff(runtime: Runtime, session: Session, key: TemplateKey, ref: KeyRef, *, before: str, after: str) -> dict[str, str]:
    """Unified diff per part between two states: ``default``, ``draft``, ``current`` or a version number."""
    old, new = _state(runtime, session, key, ref, before, "from"), _state(runtime, session, key, ref, after, "to")
    return {
        part: "".join(difflib.unified_diff(old[part].splitlines(keepends=True), new[part].splitlines(keepends=True), f"{before}/{part}", f"{after}/{part}"))
        for part in CHANNEL_PARTS[key.channel]
        if old.get(part) != new.get(part)
    }


def _state(runtime: Runtime, session: Session, key: TemplateKey, ref: KeyRef, name: str, field: str) -> dict[str, str]:
    defaults = TemplateRenderer().source(key)
    if name == "default":
        return defaults
    if name == "current":
        return effective_sources(runtime, session, key, ref)
    if name == "draft":
        draft = service.draft(session, ref)
        if draft is None:
            raise FieldError(field, "there is no draft")
        return effective_sources(runtime, session, key, ref, draft.parts)
    if (number := id_in(name)) is None:
        raise FieldError(field, "use default, current, draft or a version number")
    return {**defaults, **service.version(session, ref, number).parts}


@dataclass(frozen=True)
class Preview:
    message: RenderedMessage
    sms: dict[str, Any] | None
    findings: list[Finding]


def preview(
    runtime: Runtime, session: Session, key: TemplateKey, ref: KeyRef, parts: Mapping[str, str] | None, *, contact_id: int | None = None,
) -> Preview:
    """``key`` rendered with ``parts`` (unsaved text) over today's sources, for sample data or a real
    contact's name in the key's locale. Nothing is stored or sent; links in it go nowhere."""
    sources = effective_sources(runtime, session, key, ref, parts)
    findings = _check(runtime, session, key, sources)
    context = preview_context(runtime, session, key, contact_id)
    message = RenderedMessage(None, "", None)
    if not any(f.severity == "error" for f in findings):
        try:
            message = TemplateRenderer(overrides=lambda k: sources if k == key else None).render(key, context)
        except Exception as exc:  # noqa: BLE001 - shown in the editor
            findings.append(Finding(CHANNEL_PARTS[key.channel][0], None, "render_error", f"{type(exc).__name__}: {exc}"))
    sms = None
    if key.channel == "sms":
        text = normalize_for_gsm(message.text)
        counted = count_segments(text)
        sms = {"encoding": counted.encoding, "segments": counted.segments, "units": counted.units, "text": text,
               "ucs2_characters": sorted({ch for ch in text if not is_gsm7(ch)})}
    return Preview(message, sms, findings)


def preview_context(runtime: Runtime, session: Session, key: TemplateKey, contact_id: int | None) -> dict[str, Any]:
    context = as_mapping(sample_context(key, placeholders=False))
    names = locale_names(session, runtime.settings, key.locale)
    context.update({k: getattr(names, k) for k in ("company_name", "sender_name", "support_contact") if k in context})
    if contact_id is not None and "recipient" in context:
        contact = session.get(Contact, contact_id)
        if contact is None:
            raise FieldError("contact_id", "no such contact")
        name = contact.name or ""
        context["recipient"] = recipient_values({
            "first_name": name.split()[0] if name.strip() else "", "name": name,
            "answer_url": f"{runtime.settings.public_url.rstrip('/')}/preview-only", "unsubscribe_url": f"{runtime.settings.public_url.rstrip('/')}/preview-only",
        }, locale=key.locale)
    if context_type(key.step) is SurveyContext:
        context["question"] = default_question(key.kind, resolve_language(key.locale), company_name=names.company_name)
    return context


def test_send(runtime: Runtime, session: Session, key: TemplateKey, ref: KeyRef, parts: Mapping[str, str] | None, *, to: str, contact_id: int | None = None) -> dict[str, Any]:
    """Send the preview to ``to`` (the caller's own address) through the configured channel.

    Refuses an address that belongs to a contact: a test never reaches a customer.
    Nothing is recorded as a message.
    """
    if key.channel not in TEST_SENDABLE:
        raise FieldError("channel", f"test-sends go by {' or '.join(TEST_SENDABLE)}; {key.channel} is previewed only")
    address = to.strip()
    if not address or (key.channel == "email" and "@" not in address):
        raise FieldError("to", "give your own email address" if key.channel == "email" else "give your own phone number")
    is_contact = session.scalar(select(func.count()).select_from(Contact).where(or_(func.lower(Contact.email) == address.lower(), Contact.phone == address)))
    if is_contact:
        raise FieldError("to", "that address belongs to a contact; test-sends go to your own address only")
    result = preview(runtime, session, key, ref, parts, contact_id=contact_id)
    errors = [f for f in result.findings if f.severity == "error"]
    if errors:
        raise ChecksFailed(errors)
    message = result.message
    outgoing = OutgoingMessage(
        message_id=f"test-{secrets.token_hex(8)}", channel=key.channel, to=address,
        text=message.text, subject=f"[Test] {message.subject}" if message.subject else None, html=message.html,
        categories=("pulse-test",), custom_args={"pulse_test": "1"},
    )
    sent = runtime.channels.for_medium(key.channel).send([outgoing])[0]
    runtime.channels.flush()  # the development outbox writes in the background: the file is there when we answer
    if sent.error is not None:
        raise FieldError("to", f"the channel refused the test: {sent.error.describe()}")
    return {"sent_to": address, "channel": runtime.channels.names.get(key.channel), "provider_message_id": sent.provider_message_id}


def locale_report(session: Session) -> list[dict[str, Any]]:
    """Each locale contacts have, or that has edits: its fallback chain, its names, and a
    warning when its language has no templates (its contacts get English)."""
    used = dict(session.execute(select(Contact.locale, func.count()).where(Contact.erased_at.is_(None)).group_by(Contact.locale)).all())
    edited = {v.locale for v in service.heads(session) if v.parts}
    profiles = service.locale_profiles(session)
    locales = sorted({normalize_locale(str(loc)) for loc in used} | set(LANGUAGES) | edited | set(profiles))
    counts: dict[str, int] = {}
    for loc, n in used.items():
        counts[normalize_locale(str(loc))] = counts.get(normalize_locale(str(loc)), 0) + int(n)
    rows = []
    for loc in locales:
        chain = locale_chain(loc)
        covered = next((c for c in chain if c in LANGUAGES or c in edited), "en")
        warning = None
        if counts.get(loc) and covered == "en" and loc.split("-")[0] != "en":
            warning = f"{counts[loc]} contacts use {loc}, which has no templates: they get English. Create {loc.split('-')[0]} templates to fix it."
        profile = profiles.get(loc)
        rows.append({
            "locale": loc, "contacts": counts.get(loc, 0), "chain": list(chain), "templates_from": covered, "warning": warning,
            "company_name": profile.company_name if profile else None, "sender_name": profile.sender_name if profile else None,
            "support_contact": profile.support_contact if profile else None,
        })
    return rows


def as_sent(runtime: Runtime, session: Session, message_id: int) -> dict[str, Any]:
    """A sent message as stored, the versions it was rendered from, and that render repeated
    from those versions today (equal to the stored content, whatever was published since)."""
    message = session.get(Message, message_id)
    if message is None or message.content_id is None:
        raise NotFound(f"no message {message_id} with content")
    content = session.get(MessageContent, message.content_id)
    stored = {"subject": content.subject, "text": content.text, "html": content.html} if content else None
    use = versions_used(session, message.campaign_id, message.content_id) if message.campaign_id else None
    if use is None:
        return {"message_id": message_id, "stored": stored, "versions": None, "rerendered": None, "identical": None}
    campaign = session.get_one(Campaign, message.campaign_id)  # the message's campaign_id is a foreign key
    step = session.get(PlanStep, message.step_id) if message.step_id else None
    key = TemplateKey(use.channel, use.kind, use.step, use.locale)
    context = survey_context(
        campaign, runtime.settings, template_step=use.step, locale=use.locale, recipient=recipient_placeholders(),
        number=step.number if step else 0, final=step.final if step else False,
        names=locale_names(session, runtime.settings, use.locale),
    )
    again = TemplateRenderer(overrides=snapshot_of_use(session, use).overrides(campaign.id)).render(key, context)
    rerendered = {"subject": again.subject, "text": again.text, "html": again.html}
    versions = [version_json(v) | {"scope": "campaign" if v.campaign_id else "everyone"} for v in service.versions_by_id(session, use.version_ids)]
    return {"message_id": message_id, "stored": stored, "versions": versions, "fallback": use.fallback, "rerendered": rerendered, "identical": rerendered == stored}
