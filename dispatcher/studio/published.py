"""Rendering a campaign's messages from published edits: recorded, and never broken.

Each content a campaign stores is rendered from one snapshot of the published
edits (a campaign's own edits over the company-wide ones), and the versions
used are recorded next to it (``template_uses``), so a message can be rendered
again exactly as it was sent. A render that fails with the current edit falls
back to the key's earlier published versions, then to the default files, and
tells the team: a customer never gets a broken email, or none.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from campaigns.access.models import Role
from campaigns.db import insert_ignoring_conflicts
from campaigns.people.models import TeamMember
from campaigns.programs.models import Campaign
from campaigns.studio import service
from campaigns.studio.models import TemplateUse
from dispatcher.loop.alerts import alert_team, internal_message
from dispatcher.runtime.core import Runtime
from dispatcher.sending.stored_contents import store_content, store_contents
from dispatcher.studio.template_edits import Edit, EditSnapshot, Scope, scope_of
from templates import RenderedMessage, TemplateKey, TemplateRenderer, locale_chain

log = logging.getLogger(__name__)
EARLIER_VERSIONS = 5  # how far back a failing edit falls before the defaults


@dataclass(frozen=True)
class Rendering:
    message: RenderedMessage
    version_ids: list[int]
    fallback: str | None = None  # why the current edit was not used


def render_published(
    session: Session, snapshot: EditSnapshot, key: TemplateKey, context: Any, *, campaign_id: int | None = None,
) -> Rendering:
    """``key`` rendered from ``snapshot``; on failure from earlier versions, then the defaults.

    Raises only when the default files themselves fail (a bug in Pulse, not an edit).
    """
    try:
        return Rendering(TemplateRenderer(overrides=snapshot.overrides(campaign_id)).render(key, context), snapshot.used(key, campaign_id))
    except Exception as exc:  # any failure of an edit falls back
        if not snapshot.used(key, campaign_id):
            raise
        reason = f"{type(exc).__name__}: {exc}"
    scopes = _edited_scopes(snapshot, key, campaign_id)
    history = {scope: service.published(session, service.KeyRef(*scope)) for scope in scopes}
    for depth in range(1, EARLIER_VERSIONS + 1):
        pinned: dict[Scope, Edit | None] = {
            scope: Edit(vs[depth].id, vs[depth].number or 0, dict(vs[depth].parts)) if len(vs) > depth else None
            for scope, vs in history.items()
        }
        if all(edit is None for edit in pinned.values()):
            break
        earlier = snapshot.replacing(pinned)
        try:
            message = TemplateRenderer(overrides=earlier.overrides(campaign_id)).render(key, context)
        except Exception:  # noqa: BLE001 - try the next older one
            continue
        return Rendering(message, earlier.used(key, campaign_id), reason)
    defaults = snapshot.replacing(dict.fromkeys(scopes))
    return Rendering(TemplateRenderer(overrides=defaults.overrides(campaign_id)).render(key, context), defaults.used(key, campaign_id), reason)


def _edited_scopes(snapshot: EditSnapshot, key: TemplateKey, campaign_id: int | None) -> list[Scope]:
    candidates = [scope_of(key.with_locale(locale), c) for locale in locale_chain(key.locale) for c in (None, campaign_id)]
    return [scope for scope in dict.fromkeys(candidates) if scope in snapshot.edits]


def render_content(runtime: Runtime, session: Session, campaign: Campaign, key: TemplateKey, context: Any, *, now: datetime, snapshot: EditSnapshot | None = None) -> int:
    """Render ``key`` for ``campaign``, store the content, record the versions used; its id.

    A fallback queues an alert to the campaign's internal recipients (once per
    content) and emails every console admin; it is recorded with the reason. Does not commit.
    """
    return render_contents(runtime, session, [Wanted(campaign, key, context, now)], snapshot=snapshot)[0]


@dataclass(frozen=True)
class Wanted:
    """One content to render: ``key`` for ``campaign`` with ``context``; ``now`` dates its record."""

    campaign: Campaign
    key: TemplateKey
    context: Any
    now: datetime


def render_contents(runtime: Runtime, session: Session, wanted: Sequence[Wanted], *, snapshot: EditSnapshot | None = None) -> list[int]:
    """``render_content`` for several contents at once, their ids in order: each rendered from one
    snapshot, then all stored (``store_contents``: one read, and one insert and one more read for
    new ones) and their versions recorded by one insert, whatever their number. Does not commit."""
    if not wanted:
        return []
    snapshot = snapshot or runtime.published_templates.snapshot(session)
    renderings = [render_published(session, snapshot, w.key, w.context, campaign_id=w.campaign.id) for w in wanted]
    content_ids = store_contents(session, [rendering.message for rendering in renderings])
    insert_ignoring_conflicts(session, TemplateUse, [{
        "campaign_id": w.campaign.id, "content_id": content_id, "channel": w.key.channel, "kind": w.key.kind, "step": w.key.step,
        "locale": w.key.locale, "version_ids": rendering.version_ids, "fallback": rendering.fallback, "created_at": w.now,
    } for w, rendering, content_id in zip(wanted, renderings, content_ids)], unique=["campaign_id", "content_id"])
    for w, rendering in zip(wanted, renderings):
        if rendering.fallback:
            _tell_fallback(runtime, session, w, rendering.fallback)
    return content_ids


def _tell_fallback(runtime: Runtime, session: Session, wanted: Wanted, reason: str) -> None:
    """A content went out from an earlier version or the default: the team and the admins learn why."""
    campaign, key = wanted.campaign, wanted.key
    where = f"{key.channel}/{key.kind}/{key.step} ({key.locale})"
    log.error("template %s failed to render for campaign %s; sent an earlier version: %s", where, campaign.id, reason)
    subject = f"Pulse: the published template {where} failed to render"
    text = (f"Campaign {campaign.name!r} sent the last version that renders instead (or the default).\n"
            f"Error: {reason}\nFix the template in the studio: {runtime.settings.public_url.rstrip('/')}/console/templates")
    alert_team(runtime, session, campaign, subject=subject, text=text, avoid_channel="", now=wanted.now)
    _alert_admins(runtime, session, campaign, subject=subject, text=text, now=wanted.now)


def _alert_admins(runtime: Runtime, session: Session, campaign: Campaign, *, subject: str, text: str, now: datetime) -> None:
    """Email every active console admin (once per campaign and error)."""
    if "email" not in runtime.available_media:
        return
    admins = session.scalars(select(TeamMember.email).where(TeamMember.active.is_(True), TeamMember.console_role == Role.ADMIN.value)).all()
    if not admins:
        return
    content = store_content(session, RenderedMessage(subject=subject, text=text, html=None))
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    for address in admins:
        internal_message(runtime, session, key=f"template-alert:{campaign.id}:{digest}:{address}", campaign=campaign, step="alert",
                         medium="email", recipient=address, content_id=content, now=now)


def versions_used(session: Session, campaign_id: int, content_id: int) -> TemplateUse | None:
    return session.scalar(select(TemplateUse).where(TemplateUse.campaign_id == campaign_id, TemplateUse.content_id == content_id))


def snapshot_of_use(session: Session, use: TemplateUse) -> EditSnapshot:
    """The edits exactly as they were when ``use`` was rendered."""
    return EditSnapshot.of(service.versions_by_id(session, use.version_ids))
