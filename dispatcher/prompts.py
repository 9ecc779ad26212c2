"""The database-backed store behind the in-app channel."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from campaigns.db import dialect_insert
from campaigns.programs.models import InAppPrompt
from channels.in_app import PromptStoreUnavailable
from dispatcher.clock import Clock


class DatabasePromptStore:
    def __init__(self, sessions: sessionmaker[Session], clock: Clock) -> None:
        self._sessions = sessions
        self._clock = clock

    def save_prompt(self, *, message_id: str, contact_external_id: str, payload: Mapping[str, Any], expires_at: datetime) -> str:
        """Idempotent per message: a second save returns the first prompt's id."""
        try:
            with self._sessions() as session, session.begin():
                session.execute(
                    dialect_insert(session, InAppPrompt).values(
                        message_id=int(message_id), contact_external_id=contact_external_id, payload=dict(payload),
                        expires_at=expires_at, status="pending", created_at=self._clock.now(),
                    ).on_conflict_do_nothing(index_elements=["message_id"])
                )
                prompt_id = session.scalar(select(InAppPrompt.id).where(InAppPrompt.message_id == int(message_id)))
        except OperationalError as exc:
            raise PromptStoreUnavailable(str(exc)) from exc
        return str(prompt_id)
