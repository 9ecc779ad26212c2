"""Console access: one-time sign-in links, browser sessions and read-only share links.

Secrets are random and only their SHA-256 is stored, as for API keys: a copy of
the database lets nobody sign in. Functions flush, never commit; the caller does.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from campaigns.access.models import ConsoleSession, ConsoleSignInLink, Role, ShareLink
from campaigns.people.models import TeamMember

ROLES = tuple(r.value for r in Role)


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def find_member(session: Session, email: str) -> TeamMember | None:
    """The active team member with this email (case-insensitive), or None."""
    return session.scalar(select(TeamMember).where(TeamMember.email == email.strip().lower(), TeamMember.active.is_(True)))


def issue_sign_in_link(session: Session, *, member: TeamMember, now: datetime, ttl: timedelta) -> str:
    """A new one-time sign-in secret for ``member`` (flushed); usable once until ``now + ttl``."""
    secret = secrets.token_urlsafe(32)
    session.add(ConsoleSignInLink(token_hash=_hash(secret), team_member_id=member.id, created_at=now, expires_at=now + ttl))
    session.flush()
    return secret


def recent_links(session: Session, *, member: TeamMember, since: datetime) -> int:
    """How many sign-in links ``member`` was sent since ``since``."""
    return session.scalar(
        select(func.count()).select_from(ConsoleSignInLink)
        .where(ConsoleSignInLink.team_member_id == member.id, ConsoleSignInLink.created_at >= since)
    ) or 0


def redeem_sign_in_link(session: Session, *, secret: str, now: datetime) -> TeamMember | None:
    """The member a valid, unused, unexpired link belongs to, marking it used; None otherwise.

    One conditional UPDATE, so two browsers racing with the same link cannot both sign in.
    """
    member_id = session.scalar(
        update(ConsoleSignInLink)
        .where(ConsoleSignInLink.token_hash == _hash(secret), ConsoleSignInLink.used_at.is_(None), ConsoleSignInLink.expires_at > now)
        .values(used_at=now)
        .returning(ConsoleSignInLink.team_member_id)
    )
    if member_id is None:
        return None
    member = session.get(TeamMember, member_id)
    return member if member is not None and member.active else None


def open_session(session: Session, *, member: TeamMember, user_agent: str | None, now: datetime, ttl: timedelta) -> str:
    """Start a console session for ``member``; returns the cookie's secret (flushed)."""
    secret = secrets.token_urlsafe(32)
    session.add(ConsoleSession(
        token_hash=_hash(secret), team_member_id=member.id, user_agent=(user_agent or "")[:300] or None,
        created_at=now, last_seen_at=now, expires_at=now + ttl,
    ))
    session.flush()
    return secret


@dataclass(frozen=True)
class SignedIn:
    session: ConsoleSession
    member: TeamMember

    @property
    def role(self) -> str:
        return self.member.console_role


def signed_in(session: Session, *, secret: str, now: datetime) -> SignedIn | None:
    """The live session and its active member for a cookie secret, or None."""
    row = session.execute(
        select(ConsoleSession, TeamMember).join(TeamMember, TeamMember.id == ConsoleSession.team_member_id)
        .where(ConsoleSession.token_hash == _hash(secret), ConsoleSession.revoked_at.is_(None),
               ConsoleSession.expires_at > now, TeamMember.active.is_(True))
    ).first()
    return SignedIn(session=row[0], member=row[1]) if row else None


def end_session(session: Session, *, session_id: int, now: datetime) -> bool:
    """Revoke a session (sign-out, or an admin's revoke); False when it was not live."""
    result = session.execute(
        update(ConsoleSession).where(ConsoleSession.id == session_id, ConsoleSession.revoked_at.is_(None)).values(revoked_at=now)
    )
    return bool(getattr(result, "rowcount", 0))


def live_sessions(session: Session, *, now: datetime) -> list[tuple[ConsoleSession, TeamMember]]:
    """Every unexpired, unrevoked session with its member, newest first."""
    rows = session.execute(
        select(ConsoleSession, TeamMember).join(TeamMember, TeamMember.id == ConsoleSession.team_member_id)
        .where(ConsoleSession.revoked_at.is_(None), ConsoleSession.expires_at > now)
        .order_by(ConsoleSession.created_at.desc(), ConsoleSession.id.desc())
    )
    return [(s, m) for s, m in rows]


def first_admin(session: Session, *, email: str, now: datetime) -> TeamMember | None:
    """The member for ``email``; when nobody is an admin yet and the email is unknown,
    that person is added as the first admin. None when the email is unknown and an admin exists."""
    email = email.strip().lower()
    member = session.scalar(select(TeamMember).where(TeamMember.email == email))
    if member is not None:
        return member
    if session.scalar(select(TeamMember.id).where(TeamMember.console_role == Role.ADMIN.value).limit(1)) is not None:
        return None
    member = TeamMember(name=email.split("@")[0], email=email, console_role=Role.ADMIN.value, active=True, created_at=now)
    session.add(member)
    session.flush()
    return member


def create_share_link(session: Session, *, campaign_id: int, created_by: str | None, now: datetime, ttl: timedelta) -> ShareLink:
    """A new share link row (flushed); the URL carries its public id signed with its expiry."""
    link = ShareLink(public_id=secrets.token_urlsafe(16)[:22], campaign_id=campaign_id, created_by=created_by, created_at=now, expires_at=now + ttl)
    session.add(link)
    session.flush()
    return link


def live_share_link(session: Session, *, public_id: str, now: datetime) -> ShareLink | None:
    return session.scalar(select(ShareLink).where(ShareLink.public_id == public_id, ShareLink.revoked_at.is_(None), ShareLink.expires_at > now))


def share_links(session: Session, *, campaign_id: int) -> list[ShareLink]:
    return list(session.scalars(select(ShareLink).where(ShareLink.campaign_id == campaign_id).order_by(ShareLink.id.desc())))


def revoke_share_link(session: Session, *, link_id: int, now: datetime) -> bool:
    result = session.execute(update(ShareLink).where(ShareLink.id == link_id, ShareLink.revoked_at.is_(None)).values(revoked_at=now))
    return bool(getattr(result, "rowcount", 0))
