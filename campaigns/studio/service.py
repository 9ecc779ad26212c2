"""Drafts, publishes, history, revert and rollback of template edits; locale profiles.

Keys are plain strings here (``campaigns`` knows nothing of ``templates``):
``KeyRef(channel, kind, step, locale, campaign_id)``. Functions take a session
and never commit; the caller commits once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, literal_column, select
from sqlalchemy.orm import Session

from campaigns.people.service import NotFound
from campaigns.programs.service import StateConflict
from campaigns.studio.models import LocaleProfile, TemplateVersion


@dataclass(frozen=True)
class KeyRef:
    channel: str
    kind: str
    step: str
    locale: str
    campaign_id: int | None = None


def _scoped(ref: KeyRef) -> Any:
    campaign = TemplateVersion.campaign_id.is_(None) if ref.campaign_id is None else TemplateVersion.campaign_id == ref.campaign_id
    return select(TemplateVersion).where(
        TemplateVersion.channel == ref.channel, TemplateVersion.kind == ref.kind,
        TemplateVersion.step == ref.step, TemplateVersion.locale == ref.locale, campaign,
    )


def draft(session: Session, ref: KeyRef) -> TemplateVersion | None:
    return session.scalar(_scoped(ref).where(TemplateVersion.status == "draft"))


def published(session: Session, ref: KeyRef) -> list[TemplateVersion]:
    """Every published version of ``ref``, newest first."""
    return list(session.scalars(_scoped(ref).where(TemplateVersion.status == "published").order_by(TemplateVersion.number.desc())))


def version(session: Session, ref: KeyRef, number: int) -> TemplateVersion:
    found = session.scalar(_scoped(ref).where(TemplateVersion.status == "published", TemplateVersion.number == number))
    if found is None:
        raise NotFound(f"{ref.channel}/{ref.kind}/{ref.step}/{ref.locale} has no version {number}")
    return found


def save_draft(session: Session, ref: KeyRef, *, parts: dict[str, str], author: str, now: datetime) -> TemplateVersion:
    """Create or replace the one draft of ``ref`` (only the parts given are edits)."""
    row = draft(session, ref)
    if row is None:
        row = TemplateVersion(
            channel=ref.channel, kind=ref.kind, step=ref.step, locale=ref.locale, campaign_id=ref.campaign_id,
            status="draft", parts=parts, action="edit", author=author, created_at=now,
        )
        session.add(row)
    else:
        row.parts, row.author, row.created_at = dict(parts), author, now
    session.flush()
    return row


def discard_draft(session: Session, ref: KeyRef) -> None:
    row = draft(session, ref)
    if row is not None:
        session.delete(row)
        session.flush()


def _next_number(session: Session, ref: KeyRef) -> int:
    latest = session.scalar(_scoped(ref).with_only_columns(func.max(TemplateVersion.number)).where(TemplateVersion.status == "published"))
    return (latest or 0) + 1


def publish_draft(session: Session, ref: KeyRef, *, author: str, note: str | None, now: datetime) -> TemplateVersion:
    """The draft becomes the next published version (immutable from here on).

    The draft row is locked, so two people pressing Publish at once publish it once.
    """
    row = session.scalar(_scoped(ref).where(TemplateVersion.status == "draft").with_for_update())
    if row is None:
        raise StateConflict(f"{ref.channel}/{ref.kind}/{ref.step}/{ref.locale} has no draft to publish")
    row.status, row.number, row.note, row.author, row.published_at = "published", _next_number(session, ref), note, author, now
    session.flush()
    return row


def publish_parts(
    session: Session, ref: KeyRef, *, parts: dict[str, str], action: str, author: str, note: str | None,
    now: datetime, based_on_id: int | None = None,
) -> TemplateVersion:
    """A new published version with ``parts`` (a revert: ``{}``; a rollback: an earlier version's)."""
    row = TemplateVersion(
        channel=ref.channel, kind=ref.kind, step=ref.step, locale=ref.locale, campaign_id=ref.campaign_id,
        status="published", number=_next_number(session, ref), parts=dict(parts), action=action,
        based_on_id=based_on_id, note=note, author=author, created_at=now, published_at=now,
    )
    session.add(row)
    session.flush()
    return row


def heads(session: Session) -> list[TemplateVersion]:
    """The latest published version of every key and scope."""
    latest = (
        select(
            TemplateVersion.channel, TemplateVersion.kind, TemplateVersion.step, TemplateVersion.locale,
            func.coalesce(TemplateVersion.campaign_id, literal_column("0")).label("scope"), func.max(TemplateVersion.number).label("number"),
        )
        .where(TemplateVersion.status == "published")
        .group_by(TemplateVersion.channel, TemplateVersion.kind, TemplateVersion.step, TemplateVersion.locale, func.coalesce(TemplateVersion.campaign_id, literal_column("0")))
        .subquery()
    )
    return list(session.scalars(
        select(TemplateVersion).join(latest, (TemplateVersion.channel == latest.c.channel) & (TemplateVersion.kind == latest.c.kind)
            & (TemplateVersion.step == latest.c.step) & (TemplateVersion.locale == latest.c.locale)
            & (func.coalesce(TemplateVersion.campaign_id, literal_column("0")) == latest.c.scope) & (TemplateVersion.number == latest.c.number))
        .where(TemplateVersion.status == "published")
    ))


def drafts(session: Session) -> list[TemplateVersion]:
    return list(session.scalars(select(TemplateVersion).where(TemplateVersion.status == "draft")))


def published_history(session: Session, keys: Iterable[tuple[str, str, str, str, int | None]]) -> dict[tuple[str, str, str, str, int | None], list[TemplateVersion]]:
    """Published versions of each key, newest first (for send-time fallback)."""
    out: dict[tuple[str, str, str, str, int | None], list[TemplateVersion]] = {}
    for key in keys:
        out[key] = published(session, KeyRef(*key))
    return out


def versions_by_id(session: Session, ids: Iterable[int]) -> list[TemplateVersion]:
    wanted = list(ids)
    if not wanted:
        return []
    return list(session.scalars(select(TemplateVersion).where(TemplateVersion.id.in_(wanted))))


def latest_change(session: Session) -> tuple[int, int]:
    """(highest version id, number of published versions): changes whenever anything is published."""
    row = session.execute(
        select(func.coalesce(func.max(TemplateVersion.id), 0), func.count()).where(TemplateVersion.status == "published")
    ).one()
    return int(row[0]), int(row[1])


def locale_profiles(session: Session) -> dict[str, LocaleProfile]:
    return {p.locale: p for p in session.scalars(_LOCALE_PROFILES)}


_LOCALE_PROFILES = select(LocaleProfile)  # built once: every SMS reply reads it


def save_locale_profile(
    session: Session, locale: str, *, company_name: str | None, sender_name: str | None,
    support_contact: str | None, author: str, now: datetime,
) -> LocaleProfile:
    profile = session.get(LocaleProfile, locale)
    if profile is None:
        profile = LocaleProfile(locale=locale, updated_by=author, updated_at=now)
        session.add(profile)
    profile.company_name, profile.sender_name, profile.support_contact = company_name, sender_name, support_contact
    profile.updated_by, profile.updated_at = author, now
    session.flush()
    return profile
