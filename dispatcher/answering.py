"""Accepting an answer from any channel (email link, SMS reply, in-app): the one entry point.

Every inbound path calls ``accept_answer`` inside its own transaction and
commits before acknowledging; what follows an answer (the category's
thank-you, the detractor alert, the follow-up task, outgoing webhooks) is
queued here in the same transaction, so it happens exactly when the answer is kept.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from campaigns.programs.answers import record_answer
from campaigns.programs.models import Episode, Response
from dispatcher.runtime import Runtime


def accept_answer(runtime: Runtime, session: Session, *, episode: Episode, score: int, comment: str | None, medium: str, now: datetime) -> Response:
    """Record the answer (a later one replaces it as current, history kept). Flushes, never commits."""
    return record_answer(session, episode=episode, score=score, comment=comment, medium=medium, now=now)
