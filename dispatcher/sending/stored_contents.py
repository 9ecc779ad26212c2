"""Rendered content stored once by its digest, however many messages share it."""

from __future__ import annotations

import hashlib

from sqlalchemy import select
from sqlalchemy.orm import Session

from campaigns.db import dialect_insert
from campaigns.programs.models import MessageContent
from templates import RenderedMessage


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
