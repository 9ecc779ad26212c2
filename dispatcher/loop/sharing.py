"""Read-only results links: the URL carries a share link's public id signed with its expiry.

Signed (a guessed or edited URL fails), expiring (the expiry is in what is signed,
and stored), revocable (the row's ``revoked_at``), and no sign-in needed.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from campaigns.access.console import create_share_link, live_share_link
from campaigns.access.models import ShareLink
from dispatcher.answers.tokens import BadToken, make_token, read_token
from dispatcher.runtime.core import Runtime

PURPOSE = "share"


def share_url(runtime: Runtime, link: ShareLink) -> str:
    token = make_token(runtime.settings.secret_key.get_secret_value(), purpose=PURPOSE, subject=link.public_id, expires_at=link.expires_at)
    return f"{runtime.settings.public_url.rstrip('/')}/share/{token}"


def new_share_link(runtime: Runtime, session: Session, *, campaign_id: int, created_by: str | None, days: int | None = None) -> ShareLink:
    """A share link for the campaign (flushed, not committed), valid ``days`` (default: the setting)."""
    ttl = timedelta(days=days or runtime.settings.share_link_days)
    return create_share_link(session, campaign_id=campaign_id, created_by=created_by, now=runtime.clock.now(), ttl=ttl)


def open_share_link(runtime: Runtime, session: Session, token: str) -> ShareLink | None:
    """The live link a token names; None when tampered with, expired or revoked."""
    now = runtime.clock.now()
    try:
        public_id = read_token(runtime.settings.secret_key.get_secret_value(), token, purpose=PURPOSE, now=now)
    except BadToken:
        return None
    return live_share_link(session, public_id=public_id, now=now)
