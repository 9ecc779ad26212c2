"""Rendered content stored once by its digest, however many messages share it."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from campaigns.db import insert_ignoring_conflicts
from campaigns.programs.models import MessageContent
from templates import RenderedMessage


def content_digest(rendered: RenderedMessage) -> str:
    hasher = hashlib.sha256()
    for part in (rendered.subject, rendered.text, rendered.html):
        hasher.update(b"\x00" if part is None else part.encode() + b"\x01")
    return hasher.hexdigest()


def store_content(session: Session, rendered: RenderedMessage) -> int:
    """The id of this content, stored once however many messages share it."""
    return store_contents(session, [rendered])[0]


def store_contents(session: Session, rendered: Sequence[RenderedMessage]) -> list[int]:
    """The ids of these contents, in order, each stored once: one read, and for contents not
    stored yet one insert and one more read, whatever their number."""
    digests = [content_digest(message) for message in rendered]
    ids = _ids(session, digests)
    missing = {digest: message for digest, message in zip(digests, rendered) if digest not in ids}
    if missing:
        insert_ignoring_conflicts(session, MessageContent, [
            {"digest": digest, "subject": message.subject, "text": message.text, "html": message.html} for digest, message in sorted(missing.items())
        ], unique=["digest"])
        ids.update(_ids(session, list(missing)))
    return [ids[digest] for digest in digests]


def _ids(session: Session, digests: Sequence[str]) -> dict[str, int]:
    if not digests:
        return {}
    return {digest: id_ for id_, digest in session.execute(select(MessageContent.id, MessageContent.digest).where(MessageContent.digest.in_(set(digests))))}
